"""The browser: sign in, dashboard, jobs with live progress and cancel, API keys, webhooks, audit."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from quorum.audit.models import AuditEvent
from quorum.jobs.models import Job, JobStatus, WebhookEndpoint
from quorum.tenancy import services
from quorum.tenancy.models import ApiKey, Role, hash_api_key
from quorum.tenancy.scoping import tenant_scope

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_job(tenant, user=None, **fields) -> Job:
    return Job.objects.create(tenant=tenant, solution="echo", created_by=user, **fields)


@pytest.mark.django_db
def test_the_login_page_renders_offline(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert "/static/vendor/htmx/htmx.min.js" in page
    assert "/static/css/quorum.css" in page
    assert "https://" not in page.split("<body")[0], "no CDN: pages must work offline"


@pytest.mark.django_db
def test_a_user_signs_in_with_their_password_and_lands_on_the_dashboard(settings, tenant_a) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    user = get_user_model().objects.create_user("ana@acme.example", password="correct horse 9")
    services.add_member(tenant=tenant_a, user=user, role=Role.ANALYST)
    client = Client()
    wrong = client.post("/login/", {"username": "ana@acme.example", "password": "nope"})
    assert wrong.status_code == 200
    assert "did not match" in wrong.content.decode()
    right = client.post("/login/", {"username": "ana@acme.example", "password": "correct horse 9"})
    assert right.status_code == 302 and right["Location"] == "/"
    assert tenant_a.name in client.get("/").content.decode()
    client.post("/logout/")
    with tenant_scope(tenant_a):
        trail = list(AuditEvent.objects.filter(actor=user).values_list("action", "ip_address"))
    assert trail == [("user.logout", "127.0.0.1"), ("user.login", "127.0.0.1")]


@pytest.mark.django_db
def test_signing_out_needs_a_post_and_ends_the_session(analyst_a_client) -> None:
    assert analyst_a_client.get("/logout/").status_code == 405
    assert analyst_a_client.post("/logout/").status_code == 302
    assert analyst_a_client.get("/").status_code == 302


@pytest.mark.django_db
def test_the_dashboard_shows_the_tenants_jobs_only(
    analyst_a_client, tenant_a, tenant_b, analyst_a
) -> None:
    own = make_job(tenant_a, analyst_a, status=JobStatus.SUCCEEDED)
    make_job(tenant_a, analyst_a, status=JobStatus.RUNNING)
    other = make_job(tenant_b, status=JobStatus.FAILED)
    page = analyst_a_client.get("/").content.decode()
    assert f"/jobs/{own.pk}/" in page
    assert str(other.pk)[:8] not in page
    assert "Echo" in page  # the registered solutions are listed
    stats = re.findall(r'stat-value">(\d+)</span><span class="stat-label">([^<]+)<', page)
    assert {label: int(value) for value, label in stats} == {
        "Queued or running": 1,
        "Succeeded": 1,
        "Failed": 0,
        "Jobs in total": 2,
    }


@pytest.mark.django_db
def test_the_job_list_filters_by_status(analyst_a_client, tenant_a) -> None:
    done = make_job(tenant_a, status=JobStatus.SUCCEEDED)
    failed = make_job(tenant_a, status=JobStatus.FAILED)
    page = analyst_a_client.get("/jobs/?status=failed").content.decode()
    assert f"/jobs/{failed.pk}/" in page
    assert f"/jobs/{done.pk}/" not in page


@pytest.mark.django_db
def test_a_running_job_polls_its_progress_and_a_finished_one_stops(
    analyst_a_client, tenant_a
) -> None:
    job = make_job(tenant_a, status=JobStatus.RUNNING, progress=40, progress_message="Scoring rows")
    page = analyst_a_client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'hx-get="/jobs/{job.pk}/progress/"' in page
    partial = analyst_a_client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "Scoring rows" in partial and "40%" in partial
    assert "<html" not in partial
    Job.objects.all_tenants().filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, progress=100, result_summary={"rows": 12}
    )
    finished = analyst_a_client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "hx-get" not in finished
    assert "100%" in finished and "rows" in finished
    assert f'href="/echo/{job.pk}/"' in finished  # the solution's result page


@pytest.mark.django_db
def test_a_failed_job_shows_its_readable_error(analyst_a_client, tenant_a) -> None:
    job = make_job(
        tenant_a, status=JobStatus.FAILED, error="row 14: SMILES 'C1CC' has an unclosed ring"
    )
    assert "unclosed ring" in analyst_a_client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.django_db
def test_the_cancel_button_cancels_a_queued_job(analyst_a_client, tenant_a) -> None:
    job = make_job(tenant_a)
    assert "Cancel job" in analyst_a_client.get(f"/jobs/{job.pk}/").content.decode()
    response = analyst_a_client.post(f"/jobs/{job.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


@pytest.mark.django_db
def test_a_new_api_key_is_shown_once_and_stored_hashed(admin_a_client, tenant_a) -> None:
    created = admin_a_client.post("/settings/api-keys/", {"name": "origination"}).content.decode()
    raw_key = re.search(r'id="new-api-key">(qk_[^<]+)<', created).group(1)
    with tenant_scope(tenant_a):
        api_key = ApiKey.objects.get(name="origination")
    assert api_key.key_hash == hash_api_key(raw_key)
    assert raw_key not in admin_a_client.get("/settings/api-keys/").content.decode()
    assert raw_key not in admin_a_client.get("/audit/").content.decode()
    assert f"qk_{api_key.prefix}_" in admin_a_client.get("/settings/api-keys/").content.decode()


@pytest.mark.django_db
def test_revoking_a_key_in_the_browser_stops_it(admin_a_client, api_client_a, api_key_a) -> None:
    response = admin_a_client.post(f"/settings/api-keys/{api_key_a.api_key.pk}/revoke/")
    assert response.status_code == 302
    assert api_client_a.get("/api/v1/jobs/").status_code == 401
    assert "Revoked" in admin_a_client.get("/settings/api-keys/").content.decode()


@pytest.mark.django_db
def test_a_webhook_secret_is_shown_once_and_the_endpoint_can_be_deleted(
    admin_a_client, tenant_a
) -> None:
    created = admin_a_client.post("/settings/webhooks/", {"url": "https://hooks.acme.example/q"})
    secret = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', created.content.decode()).group(1)
    listing = admin_a_client.get("/settings/webhooks/").content.decode()
    assert "https://hooks.acme.example/q" in listing and secret not in listing
    with tenant_scope(tenant_a):
        endpoint = WebhookEndpoint.objects.get()
    assert admin_a_client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 302
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_an_invalid_webhook_url_is_explained(admin_a_client) -> None:
    page = admin_a_client.post(
        "/settings/webhooks/", {"url": "javascript:alert(1)"}
    ).content.decode()
    assert "http" in page and 'id="new-webhook-secret"' not in page


@pytest.mark.django_db
def test_the_audit_page_shows_who_did_what_from_where(admin_a_client) -> None:
    admin_a_client.post("/settings/api-keys/", {"name": "ci"}, REMOTE_ADDR="203.0.113.9")
    page = admin_a_client.get("/audit/?action=api_key.create").content.decode()
    assert "admin@acme.example" in page and "api_key.create" in page and "203.0.113.9" in page
    assert "membership.create" not in page.split("<tbody>")[1]


@pytest.mark.django_db
def test_a_member_of_two_tenants_switches_between_them(
    tenant_a, tenant_b, analyst_a, analyst_a_client
) -> None:
    services.add_member(tenant=tenant_b, user=analyst_a, role=Role.ADMIN)
    make_job(tenant_b, status=JobStatus.FAILED)
    assert analyst_a_client.post("/tenant/switch/", {"tenant_id": tenant_b.pk}).status_code == 302
    page = analyst_a_client.get("/").content.decode()
    assert "Borealis Works" in page and "/settings/api-keys/" in page


@pytest.mark.django_db
def test_switching_to_a_tenant_one_is_not_a_member_of_answers_404(
    analyst_a_client, tenant_b, tenant_a
) -> None:
    assert analyst_a_client.post("/tenant/switch/", {"tenant_id": tenant_b.pk}).status_code == 404
    assert tenant_a.name in analyst_a_client.get("/").content.decode()


@pytest.mark.django_db
def test_a_user_without_a_tenant_is_told_so(django_user_model) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create(username="loner@example.com"))
    response = client.get("/")
    assert response.status_code == 403
    assert "not a member of any tenant" in response.content.decode()


@pytest.mark.django_db
def test_pages_and_api_send_the_security_headers(analyst_a_client, api_client_a) -> None:
    for response in (analyst_a_client.get("/"), api_client_a.get("/api/v1/jobs/")):
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
