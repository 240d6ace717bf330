"""Browser forms and session-authenticated API calls need a CSRF token; API keys do not."""

import pytest
from rest_framework.test import APIClient

from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.models import ApiKey
from quorum.tenancy.scoping import tenant_scope
from tests.fixtures.tenants import session_client


@pytest.mark.django_db
def test_a_browser_post_without_a_token_is_refused(admin_a, tenant_a) -> None:
    client = session_client(admin_a, enforce_csrf_checks=True)
    assert client.post("/settings/api-keys/", {"name": "ci"}).status_code == 403
    with tenant_scope(tenant_a):
        assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_a_browser_post_with_the_pages_token_goes_through(admin_a, tenant_a) -> None:
    client = session_client(admin_a, enforce_csrf_checks=True)
    page = client.get("/settings/api-keys/")
    token = page.context["csrf_token"]
    response = client.post("/settings/api-keys/", {"name": "ci", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    with tenant_scope(tenant_a):
        assert ApiKey.objects.get().name == "ci"


@pytest.mark.django_db
def test_login_needs_a_token(admin_a) -> None:
    client = session_client(admin_a, enforce_csrf_checks=True)
    client.logout()
    assert client.post("/login/", {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.django_db
def test_a_session_api_post_without_a_token_is_refused(admin_a, tenant_a) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_a)
    response = client.post("/api/v1/api-keys/", {"name": "ci"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    with tenant_scope(tenant_a):
        assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_an_api_key_post_needs_no_token(api_key_a, tenant_a, admin_a) -> None:
    job = Job.objects.create(tenant=tenant_a, solution="echo", created_by=admin_a)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_a.raw_key}")
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 202
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
