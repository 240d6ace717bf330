"""Idempotency-Key on create endpoints: replay, 422 for another body, 409 while in flight."""

from datetime import timedelta

import pytest
from django.utils import timezone

from quorum.api.models import IdempotencyRecord
from quorum.tenancy import services
from quorum.tenancy.models import ApiKey
from quorum.tenancy.scoping import tenant_scope

URL = "/api/v1/api-keys/"


def create_key(client, name: str, key: str | None = "key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, {"name": name}, content_type="application/json", **headers)


def key_names(tenant) -> list[str]:
    with tenant_scope(tenant):
        return sorted(ApiKey.objects.values_list("name", flat=True))


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_response(admin_a_client, tenant_a) -> None:
    first = create_key(admin_a_client, "ci")
    again = create_key(admin_a_client, "ci")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert again.json()["id"] == first.json()["id"]
    assert key_names(tenant_a) == ["ci"]


@pytest.mark.django_db
def test_a_replay_never_shows_the_secret_again(admin_a_client) -> None:
    first = create_key(admin_a_client, "ci")
    again = create_key(admin_a_client, "ci")
    assert first.json()["key"].startswith("qk_")
    assert again.json()["key"] is None
    assert first.json()["key"] not in str(IdempotencyRecord.objects.all_tenants().values())


@pytest.mark.django_db
def test_the_same_key_with_another_body_answers_422(admin_a_client, tenant_a) -> None:
    assert create_key(admin_a_client, "ci").status_code == 201
    response = create_key(admin_a_client, "something else")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert key_names(tenant_a) == ["ci"]


@pytest.mark.django_db
def test_a_duplicate_while_the_first_is_in_flight_answers_409(
    admin_a_client, tenant_a, monkeypatch
) -> None:
    """The second request arrives while the first is inside its view (nested, same thread)."""
    real_create = services.create_api_key
    seen_while_in_flight = []

    def create_and_race(*args, **kwargs):
        seen_while_in_flight.append(create_key(admin_a_client, "ci"))
        return real_create(*args, **kwargs)

    monkeypatch.setattr(services, "create_api_key", create_and_race)
    first = create_key(admin_a_client, "ci")
    assert first.status_code == 201
    [duplicate] = seen_while_in_flight
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "idempotency_key_in_use"
    assert key_names(tenant_a) == ["ci"]


@pytest.mark.django_db
def test_different_keys_create_twice(admin_a_client, tenant_a) -> None:
    assert create_key(admin_a_client, "ci", key="k1").status_code == 201
    assert create_key(admin_a_client, "ci", key="k2").status_code == 201
    assert create_key(admin_a_client, "ci", key=None).status_code == 201
    assert key_names(tenant_a) == ["ci", "ci", "ci"]


@pytest.mark.django_db
def test_keys_are_per_tenant(admin_a_client, admin_b_client, tenant_a, tenant_b) -> None:
    assert create_key(admin_a_client, "ci").status_code == 201
    response = create_key(admin_b_client, "ci")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert key_names(tenant_b) == ["ci"]


@pytest.mark.django_db
def test_keys_are_per_path(admin_a_client, tenant_a) -> None:
    assert create_key(admin_a_client, "ci").status_code == 201
    webhook = admin_a_client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.example.com/q"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert webhook.status_code == 201
    assert webhook.json()["secret"].startswith("whsec_")


@pytest.mark.django_db
def test_a_key_expires_after_24_hours(admin_a_client, tenant_a) -> None:
    assert create_key(admin_a_client, "ci").status_code == 201
    IdempotencyRecord.objects.all_tenants().update(created_at=timezone.now() - timedelta(hours=25))
    response = create_key(admin_a_client, "other")
    assert response.status_code == 201
    assert key_names(tenant_a) == ["ci", "other"]


@pytest.mark.django_db
def test_an_error_does_not_spend_the_key(admin_a_client, tenant_a) -> None:
    invalid = admin_a_client.post(
        URL, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert invalid.status_code == 400
    assert create_key(admin_a_client, "fixed", key="k").status_code == 201
    assert key_names(tenant_a) == ["fixed"]


@pytest.mark.django_db
@pytest.mark.parametrize("bad_key", ["x" * 256, " ", "tab\there"])
def test_a_malformed_key_answers_400(admin_a_client, tenant_a, bad_key) -> None:
    response = create_key(admin_a_client, "ci", key=bad_key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert key_names(tenant_a) == []
