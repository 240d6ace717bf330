"""The platform admin (superuser) sees every tenant's keys and audit trail, read-only."""

import pytest


@pytest.mark.django_db
def test_the_platform_admin_lists_every_tenants_keys_and_events(
    admin_client, api_key_a, api_key_b
) -> None:
    keys = admin_client.get("/admin/tenancy/apikey/").content.decode()
    assert api_key_a.api_key.prefix in keys and api_key_b.api_key.prefix in keys
    assert (
        "key_hash"
        not in admin_client.get(
            f"/admin/tenancy/apikey/{api_key_a.api_key.pk}/change/"
        ).content.decode()
    )
    events = admin_client.get("/admin/audit/auditevent/").content.decode()
    assert "api_key.create" in events
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.get("/admin/tenancy/tenant/").status_code == 200
