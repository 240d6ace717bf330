"""CSRF on every solution's upload form (generated from the registry): a post without the
page's token is refused and stores nothing; with the token read from the page it goes through."""

import re

import pytest
from django.test import Client

from quorum.jobs import services as job_services
from quorum.jobs.models import Job
from tests.fixtures.tenants import session_client
from tests.platform.faults.submissions import (
    read_upload_form,
    sample_upload,
    solutions_with_uploads,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_an_upload_form_needs_the_pages_token(
    solution, analyst_a, worker_media_root, monkeypatch
) -> None:
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)
    browser: Client = session_client(analyst_a, enforce_csrf_checks=True)
    page = browser.get(f"/{solution.name}/").content.decode()
    form = read_upload_form(page)
    fields = {name: value for name, value in form.values.items() if name != "csrfmiddlewaretoken"}
    action = form.action or f"/{solution.name}/"

    refused = browser.post(action, {**fields, form.file_field: sample_upload(solution)})
    assert refused.status_code == 403
    assert Job.objects.all_tenants().count() == 0

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    accepted = browser.post(
        action,
        {**fields, "csrfmiddlewaretoken": token, form.file_field: sample_upload(solution)},
    )
    assert accepted.status_code == 302, accepted.content[:300]
    assert Job.objects.all_tenants().filter(solution=solution.name).count() == 1
