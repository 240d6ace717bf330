"""Tenancy services: each change is atomic and leaves an audit event; seed_demo can run twice."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from quorum.audit.models import AuditEvent
from quorum.audit.services import client_ip
from quorum.tenancy import services
from quorum.tenancy.models import ApiKey, Membership, Role, Tenant
from quorum.tenancy.scoping import tenant_scope


def events(tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action))


@pytest.mark.django_db
def test_creating_a_key_is_audited_with_actor_object_and_ip_but_never_the_secret(
    tenant_a, admin_a
) -> None:
    request = RequestFactory().post("/settings/api-keys/", REMOTE_ADDR="198.51.100.7")
    api_key, raw_key = services.create_api_key(tenant_a, admin_a, "erp", request=request)
    [event] = events(tenant_a, "api_key.create")
    assert event.actor == admin_a
    assert event.actor_label == "admin@acme.example"
    assert (event.object_type, event.object_id) == ("tenancy.apikey", str(api_key.pk))
    assert event.ip_address == "198.51.100.7"
    assert event.created_at is not None
    secret = raw_key.split("_", 2)[2]  # the secret itself may hold "_" (token_urlsafe)
    assert raw_key not in str(event.detail) and secret not in event.object_label
    assert api_key.key_hash != raw_key and raw_key not in str(ApiKey.objects.all_tenants().values())


@pytest.mark.django_db
def test_revoking_is_audited_once(tenant_a, admin_a, api_key_a) -> None:
    services.revoke_api_key(api_key_a.api_key, admin_a)
    first_revoked_at = api_key_a.api_key.revoked_at
    services.revoke_api_key(api_key_a.api_key, admin_a)
    assert api_key_a.api_key.revoked_at == first_revoked_at is not None
    assert len(events(tenant_a, "api_key.revoke")) == 1


@pytest.mark.django_db
def test_a_change_whose_audit_event_fails_is_rolled_back(tenant_a, admin_a, monkeypatch) -> None:
    def broken_record(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "record", broken_record)
    with pytest.raises(RuntimeError):
        services.create_api_key(tenant_a, admin_a, "erp")
    assert not ApiKey.objects.all_tenants().filter(name="erp").exists()


@pytest.mark.django_db
def test_add_member_changes_a_role_and_audits_it(tenant_a, analyst_a) -> None:
    services.add_member(tenant=tenant_a, user=analyst_a, role=Role.ADMIN)
    assert Membership.objects.get(tenant=tenant_a, user=analyst_a).role == Role.ADMIN
    assert len(events(tenant_a, "membership.change_role")) == 1
    services.add_member(tenant=tenant_a, user=analyst_a, role=Role.ADMIN)
    assert len(events(tenant_a, "membership.change_role")) == 1
    with pytest.raises(ValueError):
        services.add_member(tenant=tenant_a, user=analyst_a, role="owner")


def test_the_audit_ip_trusts_only_our_own_proxies(settings) -> None:
    factory = RequestFactory()
    forged = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5")
    settings.QUORUM_PROXY_COUNT = 0
    assert client_ip(forged) == "10.0.0.2"
    settings.QUORUM_PROXY_COUNT = 1
    assert client_ip(forged) == "203.0.113.5"
    assert client_ip(factory.get("/", REMOTE_ADDR="not-an-ip")) is None


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_tenant_and_can_run_again(settings, monkeypatch) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setenv("QUORUM_DEMO_PASSWORD", "demo-pass-42")
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert first.getvalue() == second.getvalue()
    assert "analyst@demo.example / demo-pass-42" in first.getvalue()
    assert "admin@demo.example / demo-pass-42" in first.getvalue()
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.name == "Demo Lab"
    roles = dict(Membership.objects.filter(tenant=tenant).values_list("user__username", "role"))
    assert roles == {"analyst@demo.example": Role.ANALYST, "admin@demo.example": Role.ADMIN}
    assert (
        get_user_model().objects.get(username="admin@demo.example").check_password("demo-pass-42")
    )
    assert len(events(tenant, "tenant.create")) == 1


@pytest.mark.django_db
def test_raw_keys_and_webhook_secrets_never_reach_the_logs(admin_a_client, caplog) -> None:
    caplog.set_level("DEBUG")
    key = admin_a_client.post("/api/v1/api-keys/", {"name": "ci"}, content_type="application/json")
    hook = admin_a_client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.example.com/q"},
        content_type="application/json",
    )
    raw_key, secret = key.json()["key"], hook.json()["secret"]
    assert raw_key and secret
    admin_a_client.get("/api/v1/jobs/", HTTP_AUTHORIZATION=f"Api-Key {raw_key}x")
    assert raw_key not in caplog.text and secret not in caplog.text
