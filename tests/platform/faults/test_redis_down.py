"""The web keeps answering while Redis is down: pages and reads work, and every submission
(API and browser, for every registered solution) answers 503 with Retry-After, never 500,
and keeps nothing."""

from collections.abc import Iterator

import pytest

from quorum.jobs.models import Job, JobFile
from tests.fixtures.workers import RedisServer
from tests.platform.faults.submissions import (
    read_upload_form,
    sample_upload,
    solutions_with_uploads,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_down(redis_server: str, redis_server_process: RedisServer) -> Iterator[None]:
    """Redis stopped for the test (the test process's Celery app publishes to it)."""
    redis_server_process.stop()
    try:
        yield
    finally:
        redis_server_process.start()


def assert_nothing_kept() -> None:
    assert Job.objects.all_tenants().count() == 0
    assert JobFile.objects.all_tenants().count() == 0


def assert_retry_later(response) -> None:
    assert response.status_code == 503, (response.status_code, response.content[:500])
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_api_submissions_answer_503_with_retry_after(redis_down, api_client_a, solution) -> None:
    response = api_client_a.post(
        f"/api/v1/{solution.name}/jobs/", {"files": [sample_upload(solution)]}, format="multipart"
    )

    assert_retry_later(response)
    assert response["Content-Type"].startswith("application/problem+json")
    assert "not reachable" in response.json()["detail"]
    assert_nothing_kept()


@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_browser_submissions_answer_503_with_retry_after(
    redis_down, analyst_a_client, solution
) -> None:
    page = analyst_a_client.get(f"/{solution.name}/")
    assert page.status_code == 200
    form = read_upload_form(page.content.decode())

    response = analyst_a_client.post(
        form.action or f"/{solution.name}/",
        {**form.values, form.file_field: sample_upload(solution)},
    )

    assert_retry_later(response)
    assert b"try again" in response.content.lower()
    assert_nothing_kept()


def test_pages_and_reads_keep_answering(redis_down, analyst_a_client, api_client_a) -> None:
    for path in ["/", "/jobs/", *(f"/{s.name}/" for s in solutions_with_uploads())]:
        assert analyst_a_client.get(path).status_code == 200, path
    for path in ["/api/v1/jobs/", "/api/v1/tenant/"]:
        assert api_client_a.get(path).status_code == 200, path
