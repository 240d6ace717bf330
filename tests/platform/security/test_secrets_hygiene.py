"""API keys and webhook secrets: shown in the response that creates them and nowhere else,
and never written to a log (every logger captured at DEBUG while they are created, used,
refused and listed), nor to the audit trail."""

import logging
import re

import pytest

from quorum.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ["django", "django.request", "quorum", "solutions"]:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


def audit_text(tenant) -> str:
    return "\n".join(
        repr(row) for row in AuditEvent.objects.all_tenants().filter(tenant=tenant).values()
    )


def test_an_api_key_is_shown_once_and_never_logged(all_logs, admin_a_client, tenant_a) -> None:
    created = admin_a_client.post(
        "/api/v1/api-keys/", {"name": "ledger sync"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    raw_key = created.json()["key"]
    assert raw_key.startswith("qk_")
    key_id = created.json()["id"]

    client_with_key = {"HTTP_AUTHORIZATION": f"Api-Key {raw_key}"}
    assert admin_a_client.get("/api/v1/tenant/", **client_with_key).status_code == 200
    wrong = raw_key[:-4] + ("0000" if not raw_key.endswith("0000") else "1111")
    assert (
        admin_a_client.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Api-Key {wrong}").status_code
        == 401
    )
    shown_later = [
        admin_a_client.get("/api/v1/api-keys/").content.decode(),
        admin_a_client.get(f"/api/v1/api-keys/{key_id}/").content.decode(),
        admin_a_client.get("/api/v1/audit-events/").content.decode(),
        admin_a_client.get("/settings/api-keys/").content.decode(),
    ]
    admin_a_client.post(f"/api/v1/api-keys/{key_id}/revoke/")
    assert admin_a_client.get("/api/v1/tenant/", **client_with_key).status_code == 401

    secret_part = raw_key.split("_", 2)[2]  # qk_<prefix>_<secret>; the secret may hold "_" itself
    wrong_part = wrong.split("_", 2)[2]
    assert all_logs.records, "nothing was logged: the capture is not working"
    for text in [*shown_later, logged_text(all_logs), audit_text(tenant_a)]:
        assert secret_part not in text
        assert wrong_part not in text


def test_a_webhook_secret_is_shown_once_and_never_logged(
    all_logs, admin_a_client, tenant_a
) -> None:
    created = admin_a_client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.acme.example/quorum"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert re.fullmatch(r"whsec_\S{20,}", secret)
    endpoint_id = created.json()["id"]

    browser = admin_a_client.post("/settings/webhooks/", {"url": "https://hooks.acme.example/b"})
    browser_secret = re.search(
        r'id="new-webhook-secret">(whsec_[^<]+)<', browser.content.decode()
    ).group(1)
    refused = admin_a_client.post(
        "/api/v1/webhook-endpoints/", {"url": "not a url"}, content_type="application/json"
    )
    assert refused.status_code == 400
    shown_later = [
        admin_a_client.get("/api/v1/webhook-endpoints/").content.decode(),
        admin_a_client.get(f"/api/v1/webhook-endpoints/{endpoint_id}/").content.decode(),
        admin_a_client.get("/settings/webhooks/").content.decode(),
        admin_a_client.get("/api/v1/audit-events/").content.decode(),
        admin_a_client.get("/audit/").content.decode(),
    ]

    assert all_logs.records, "nothing was logged: the capture is not working"
    for value in (secret, browser_secret):
        body = value.removeprefix("whsec_")
        for text in [*shown_later, logged_text(all_logs), audit_text(tenant_a)]:
            assert body not in text
