"""GET /api/v1/jobs/, GET /api/v1/jobs/<id>/ and POST /api/v1/jobs/<id>/cancel/."""

import pytest

from quorum.jobs.models import Job, JobStatus
from quorum.jobs.services import create_job
from tests.platform.jobs.support import text_file


@pytest.fixture
def jobs_a(tenant_a, analyst_a, worker_media_root) -> list[Job]:
    """Three echo jobs of tenant A, oldest first (not enqueued: the test's transaction
    never commits, so no worker is involved)."""
    return [
        create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])
        for _ in range(3)
    ]


def test_the_list_is_newest_first_with_cursor_pages(api_client_a, jobs_a) -> None:
    first = api_client_a.get("/api/v1/jobs/", {"page_size": 2})
    assert first.status_code == 200
    assert [job["id"] for job in first.json()["results"]] == [
        str(jobs_a[2].pk),
        str(jobs_a[1].pk),
    ]
    assert "cursor=" in first.json()["next"]

    second = api_client_a.get(first.json()["next"])
    assert [job["id"] for job in second.json()["results"]] == [str(jobs_a[0].pk)]
    assert second.json()["next"] is None


def test_the_list_filters_by_solution_and_status(api_client_a, tenant_a, jobs_a) -> None:
    other = Job.objects.all_tenants().create(tenant=tenant_a, solution="loans")
    Job.objects.all_tenants().filter(pk=jobs_a[0].pk).update(status=JobStatus.SUCCEEDED)

    by_solution = api_client_a.get("/api/v1/jobs/", {"solution": "loans"}).json()["results"]
    by_status = api_client_a.get("/api/v1/jobs/", {"status": "succeeded"}).json()["results"]
    both = api_client_a.get("/api/v1/jobs/", {"solution": "echo", "status": "queued"})

    assert [job["id"] for job in by_solution] == [str(other.pk)]
    assert [job["id"] for job in by_status] == [str(jobs_a[0].pk)]
    assert {job["id"] for job in both.json()["results"]} == {str(j.pk) for j in jobs_a[1:]}


def test_an_unknown_status_filter_is_a_clear_400(api_client_a, jobs_a) -> None:
    response = api_client_a.get("/api/v1/jobs/", {"status": "done"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "Unknown status" in str(response.json())


def test_the_detail_shows_status_progress_results_and_links(api_client_a, jobs_a) -> None:
    job = jobs_a[0]
    Job.objects.all_tenants().filter(pk=job.pk).update(
        status=JobStatus.RUNNING, progress=40, progress_message="line 1 of 2"
    )

    body = api_client_a.get(f"/api/v1/jobs/{job.pk}/").json()

    assert body["status"] == "running"
    assert body["progress"] == 40
    assert body["message"] == "line 1 of 2"
    assert body["result_summary"] == {}
    assert body["error"] == ""
    assert body["links"] == {
        "self": f"/api/v1/jobs/{job.pk}/",
        "cancel": f"/api/v1/jobs/{job.pk}/cancel/",
        "result": f"/echo/{job.pk}/",
    }
    assert [f["name"] for f in body["files"]] == ["input.txt"]


def test_cancelling_a_queued_job_cancels_it_at_once(api_client_a, jobs_a) -> None:
    response = api_client_a.post(f"/api/v1/jobs/{jobs_a[0].pk}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    job = Job.objects.all_tenants().get(pk=jobs_a[0].pk)
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_requested


def test_cancelling_a_running_job_asks_it_to_stop(api_client_a, jobs_a) -> None:
    Job.objects.all_tenants().filter(pk=jobs_a[0].pk).update(status=JobStatus.RUNNING)

    response = api_client_a.post(f"/api/v1/jobs/{jobs_a[0].pk}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested"] is True


def test_cancelling_a_finished_job_is_a_409(api_client_a, jobs_a) -> None:
    Job.objects.all_tenants().filter(pk=jobs_a[0].pk).update(status=JobStatus.SUCCEEDED)

    response = api_client_a.post(f"/api/v1/jobs/{jobs_a[0].pk}/cancel/")

    assert response.status_code == 409
    assert "already succeeded" in response.json()["detail"]


def test_another_tenants_jobs_are_invisible(api_client_b, jobs_a) -> None:
    job = jobs_a[0]

    assert api_client_b.get("/api/v1/jobs/").json()["results"] == []
    assert api_client_b.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert api_client_b.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 404
    assert Job.objects.all_tenants().get(pk=job.pk).status == JobStatus.QUEUED


def test_without_credentials_the_api_answers_401(client, jobs_a) -> None:
    assert client.get("/api/v1/jobs/").status_code == 401
    assert client.get(f"/api/v1/jobs/{jobs_a[0].pk}/").status_code == 401
