"""Roles: only a tenant admin, signed in, manages API keys, webhooks and reads the audit trail.

Analysts and API keys get 403 on those endpoints and pages, and nothing changes.
"""

import pytest

from quorum.jobs.models import WebhookEndpoint
from quorum.tenancy.models import ApiKey
from quorum.tenancy.scoping import tenant_scope

ADMIN_API_LISTS = ["/api/v1/api-keys/", "/api/v1/webhook-endpoints/", "/api/v1/audit-events/"]
ADMIN_PAGES = ["/settings/api-keys/", "/settings/webhooks/", "/audit/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ADMIN_API_LISTS)
def test_admin_endpoints_refuse_analysts_and_api_keys(
    url, analyst_a_client, api_client_a, admin_a_client
) -> None:
    assert analyst_a_client.get(url).status_code == 403
    assert api_client_a.get(url).status_code == 403
    assert admin_a_client.get(url).status_code == 200


@pytest.mark.django_db
def test_an_analyst_cannot_create_or_revoke_keys_through_the_api(
    analyst_a_client, api_client_a, api_key_a, tenant_a
) -> None:
    for client in (analyst_a_client, api_client_a):
        created = client.post(
            "/api/v1/api-keys/", {"name": "sneaky"}, content_type="application/json"
        )
        revoked = client.post(f"/api/v1/api-keys/{api_key_a.api_key.pk}/revoke/")
        assert (created.status_code, revoked.status_code) == (403, 403)
        assert created.json()["code"] == "permission_denied"
    with tenant_scope(tenant_a):
        assert list(ApiKey.objects.values_list("name", flat=True)) == [api_key_a.api_key.name]
        assert ApiKey.objects.get().revoked_at is None


@pytest.mark.django_db
def test_an_analyst_cannot_add_webhooks_through_the_api(
    analyst_a_client, api_client_a, tenant_a
) -> None:
    for client in (analyst_a_client, api_client_a):
        response = client.post(
            "/api/v1/webhook-endpoints/",
            {"url": "https://evil.example/"},
            content_type="application/json",
        )
        assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_refuse_analysts(url, analyst_a_client, admin_a_client) -> None:
    assert analyst_a_client.get(url).status_code == 403
    assert admin_a_client.get(url).status_code == 200


@pytest.mark.django_db
def test_an_analyst_cannot_create_keys_or_webhooks_in_the_browser(
    analyst_a_client, tenant_a
) -> None:
    assert analyst_a_client.post("/settings/api-keys/", {"name": "sneaky"}).status_code == 403
    assert (
        analyst_a_client.post("/settings/webhooks/", {"url": "https://evil.example/"}).status_code
        == 403
    )
    with tenant_scope(tenant_a):
        assert not ApiKey.objects.exists()
        assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_navigation_shows_settings_to_admins_only(analyst_a_client, admin_a_client) -> None:
    assert "/settings/api-keys/" not in analyst_a_client.get("/").content.decode()
    assert "/settings/api-keys/" in admin_a_client.get("/").content.decode()
