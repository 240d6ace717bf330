"""API authentication: Api-Key header or session, 401 for a bad or revoked key, 429 past the rate."""

import pytest
from rest_framework.test import APIClient

from quorum.tenancy import services
from tests.fixtures.tenants import api_key_client


@pytest.mark.django_db
def test_an_api_key_acts_for_its_tenant(api_client_a, tenant_a, api_key_a) -> None:
    response = api_client_a.get("/api/v1/tenant/")
    assert response.status_code == 200
    assert response.json() == {
        "id": tenant_a.pk,
        "name": tenant_a.name,
        "slug": tenant_a.slug,
        "role": None,
        "api_key": api_key_a.api_key.name,
    }


@pytest.mark.django_db
def test_a_session_acts_for_the_users_tenant_with_their_role(analyst_a_client, tenant_a) -> None:
    body = analyst_a_client.get("/api/v1/tenant/").json()
    assert (body["slug"], body["role"], body["api_key"]) == (tenant_a.slug, "analyst", None)


@pytest.mark.django_db
def test_using_a_key_records_when_it_was_last_used(api_client_a, api_key_a) -> None:
    assert api_key_a.api_key.last_used_at is None
    api_client_a.get("/api/v1/jobs/")
    api_key_a.api_key.refresh_from_db()
    assert api_key_a.api_key.last_used_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Api-Key qk_00000000_not-a-real-key", "Api-Key garbage", "api-key qk_x", "Api-Key qk__"],
)
def test_an_unknown_key_answers_401(header, api_key_a) -> None:
    client = APIClient()
    response = client.get("/api/v1/jobs/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert "not valid" in response.json()["detail"]


@pytest.mark.django_db
def test_a_correct_prefix_with_a_wrong_secret_answers_401(api_key_a) -> None:
    prefix = api_key_a.api_key.prefix
    response = api_key_client(f"qk_{prefix}_wrong-secret").get("/api/v1/jobs/")
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_revoked_key_answers_401(api_client_a, api_key_a, admin_a) -> None:
    assert api_client_a.get("/api/v1/jobs/").status_code == 200
    services.revoke_api_key(api_key_a.api_key, admin_a)
    response = api_client_a.get("/api/v1/jobs/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_a_bad_key_is_not_rescued_by_a_valid_session(admin_a_client) -> None:
    response = admin_a_client.get("/api/v1/jobs/", HTTP_AUTHORIZATION="Api-Key qk_deadbeef_nope")
    assert response.status_code == 401


@pytest.mark.django_db
def test_no_credentials_answers_401_with_the_scheme(db) -> None:
    response = APIClient().get("/api/v1/jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Api-Key")


@pytest.mark.django_db
def test_a_user_with_no_tenant_is_refused(django_user_model) -> None:
    loner = django_user_model.objects.create(username="loner@example.com")
    client = APIClient()
    client.force_login(loner)
    assert client.get("/api/v1/jobs/").status_code == 403


@pytest.mark.django_db
def test_requests_past_the_rate_answer_429_per_key(settings, api_client_a, api_client_b) -> None:
    # Assigning through pytest-django's `settings` makes DRF reload its settings.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"},
    }
    codes = [api_client_a.get("/api/v1/jobs/").status_code for _ in range(4)]
    throttled = api_client_a.get("/api/v1/jobs/")
    assert codes == [200, 200, 200, 429]
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["code"] == "throttled"
    assert api_client_b.get("/api/v1/jobs/").status_code == 200
