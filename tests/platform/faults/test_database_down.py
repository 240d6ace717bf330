"""The database lost in the middle of a submission: a clear 503 with Retry-After (problem
details on the API, a page in the browser), no job row, no stored file; the same submission
succeeds once the database is back. (A database outage inside a worker's attempt is covered
by tests/platform/jobs: the task retries it.)"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from quorum.jobs.models import Job, JobFile
from tests.platform.faults.submissions import (
    read_upload_form,
    sample_upload,
    solutions_with_uploads,
)

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_lost_on(table: str) -> Iterator[list[str]]:
    """Every statement that writes `table` fails as a dropped connection does."""
    failed: list[str] = []

    def drop_connection(execute: Callable, sql: str, params, many, context):
        if table in sql and sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            failed.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop_connection):
        yield failed


def stored_files(media: Path) -> list[Path]:
    return [path for path in media.rglob("*") if path.is_file()]


def assert_nothing_kept(media: Path) -> None:
    assert Job.objects.all_tenants().count() == 0
    assert JobFile.objects.all_tenants().count() == 0
    assert stored_files(media) == []


@pytest.mark.parametrize("solution", solutions_with_uploads(), ids=lambda s: s.name)
def test_api_submission_during_a_database_outage(
    redis_server, worker_media_root, api_client_a, solution
) -> None:
    path = f"/api/v1/{solution.name}/jobs/"
    with database_lost_on(JobFile._meta.db_table) as failed:
        response = api_client_a.post(path, {"files": [sample_upload(solution)]}, format="multipart")

    assert failed, "the submission never wrote a job file"
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("application/problem+json")
    assert int(response["Retry-After"]) > 0
    assert "database is not reachable" in response.json()["detail"]
    assert_nothing_kept(worker_media_root)

    again = api_client_a.post(path, {"files": [sample_upload(solution)]}, format="multipart")
    assert again.status_code == 201, again.content[:500]
    assert Job.objects.all_tenants().count() == 1


def test_browser_submission_during_a_database_outage(
    redis_server, worker_media_root, analyst_a_client
) -> None:
    solution = solutions_with_uploads()[0]
    form = read_upload_form(analyst_a_client.get(f"/{solution.name}/").content.decode())

    with database_lost_on(JobFile._meta.db_table):
        response = analyst_a_client.post(
            form.action or f"/{solution.name}/",
            {**form.values, form.file_field: sample_upload(solution)},
        )

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert b"database is not reachable" in response.content
    assert_nothing_kept(worker_media_root)
