"""The upload size cap holds at every solution's create endpoint, API and browser alike
(generated from the registry): a file over QUORUM_MAX_UPLOAD_BYTES is refused with a message
naming the limit, and nothing is stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job, JobFile
from tests.platform.faults.submissions import (
    read_upload_form,
    sample_upload,
    solutions_with_uploads,
)

CAP = 4096


@pytest.fixture
def small_cap(settings, worker_media_root) -> None:
    settings.QUORUM_MAX_UPLOAD_BYTES = CAP


def oversized(solution) -> SimpleUploadedFile:
    """The solution's sample file padded past the cap (the name keeps an accepted suffix)."""
    sample = sample_upload(solution)
    body = sample.read()
    return SimpleUploadedFile(sample.name, body + b"\n" * (CAP + 1 - len(body) % (CAP + 1)))


def assert_nothing_stored(media) -> None:
    assert Job.objects.all_tenants().count() == 0
    assert JobFile.objects.all_tenants().count() == 0
    assert [path for path in media.rglob("*") if path.is_file()] == []


@pytest.mark.django_db
@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_the_api_refuses_a_file_over_the_cap(
    small_cap, worker_media_root, api_client_a, solution
) -> None:
    upload = oversized(solution)
    assert upload.size > CAP
    response = api_client_a.post(
        f"/api/v1/{solution.name}/jobs/", {"files": [upload]}, format="multipart"
    )

    assert response.status_code in (400, 413), response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json")
    assert "4.0 KB" in response.content.decode()
    assert_nothing_stored(worker_media_root)


@pytest.mark.django_db
@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_the_browser_form_refuses_a_file_over_the_cap(
    small_cap, worker_media_root, analyst_a_client, solution
) -> None:
    form = read_upload_form(analyst_a_client.get(f"/{solution.name}/").content.decode())
    response = analyst_a_client.post(
        form.action or f"/{solution.name}/", {**form.values, form.file_field: oversized(solution)}
    )

    assert response.status_code in (200, 400, 413)
    assert "4.0 KB" in response.content.decode()
    assert_nothing_stored(worker_media_root)
