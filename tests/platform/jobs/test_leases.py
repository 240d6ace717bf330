"""The lease a running attempt holds on its job: duplicates dropped, dead attempts taken over."""

import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from quorum.jobs import runner, services
from quorum.jobs.models import Job, JobStatus
from quorum.jobs.services import Claim, claim_job, create_job
from solutions.registry import Solution, register, unregister
from tests.platform.jobs.support import text_file

OTHER_HOST_OWNER = "worker-7.example:4242:task-b"


@pytest.fixture
def job(tenant_a, analyst_a, worker_media_root) -> Job:
    return create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(1)])


def reload(job: Job) -> Job:
    return Job.objects.all_tenants().get(pk=job.pk)


def test_the_first_delivery_claims_a_queued_job(job) -> None:
    assert claim_job(str(job.pk), "worker-1.example:1:task-a") is Claim.CLAIMED

    job = reload(job)
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert job.lease_owner == "worker-1.example:1:task-a"
    assert job.lease_expires_at > timezone.now()
    assert job.started_at is not None


def test_a_duplicate_while_the_lease_is_fresh_is_dropped(job) -> None:
    claim_job(str(job.pk), "worker-1.example:1:task-a")

    assert claim_job(str(job.pk), OTHER_HOST_OWNER) is Claim.HELD
    job = reload(job)
    assert job.attempts == 1
    assert job.lease_owner == "worker-1.example:1:task-a"


def test_a_delivery_after_the_lease_expired_takes_over(job) -> None:
    claim_job(str(job.pk), "worker-1.example:1:task-a")
    Job.objects.all_tenants().filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert claim_job(str(job.pk), OTHER_HOST_OWNER) is Claim.CLAIMED
    job = reload(job)
    assert job.attempts == 2
    assert job.lease_owner == OTHER_HOST_OWNER


def test_a_fresh_lease_of_a_dead_process_on_this_host_is_taken_over(job) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: its pid no longer exists
    dead_owner = f"{socket.gethostname()}:{process.pid}:task-a"
    claim_job(str(job.pk), dead_owner)

    assert claim_job(str(job.pk), OTHER_HOST_OWNER) is Claim.CLAIMED
    assert reload(job).attempts == 2


def test_a_finished_job_is_never_run_again(job) -> None:
    Job.objects.all_tenants().filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)

    assert claim_job(str(job.pk), OTHER_HOST_OWNER) is Claim.FINISHED
    assert reload(job).attempts == 0


def test_a_job_past_its_attempts_fails_with_a_readable_error(job, settings) -> None:
    settings.QUORUM_JOB_MAX_ATTEMPTS = 3
    Job.objects.all_tenants().filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=3,
        lease_owner="worker-1.example:1:task-a",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert claim_job(str(job.pk), OTHER_HOST_OWNER) is Claim.EXHAUSTED
    job = reload(job)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("The job crashed its worker 3 times")
    assert job.finished_at is not None


def test_a_lost_lease_stops_the_old_attempt_without_saving(job) -> None:
    claim_job(str(job.pk), "worker-1.example:1:task-a")
    Job.objects.all_tenants().filter(pk=job.pk).update(lease_owner=OTHER_HOST_OWNER)

    assert not services.renew_lease(str(job.pk), "worker-1.example:1:task-a")
    assert services.mark_succeeded(str(job.pk), "worker-1.example:1:task-a", {}) is None
    assert reload(job).status == JobStatus.RUNNING


def test_the_heartbeat_keeps_a_slow_step_leased(transactional_db, tenant_a, settings) -> None:
    """A step longer than the lease, with no progress call, still holds the job."""
    settings.QUORUM_JOB_LEASE_SECONDS = 2
    seen: dict[str, str] = {}

    def slow_pipeline(ctx: runner.JobContext) -> dict:
        time.sleep(2.5)
        seen["duplicate"] = claim_job(str(ctx.job.pk), OTHER_HOST_OWNER).value
        return {"slept": True}

    register(Solution("slow", "Slow", "", (".txt",), slow_pipeline))
    try:
        job = Job.objects.all_tenants().create(tenant=tenant_a, solution="slow")
        runner.run_job(str(job.pk), "worker-1.example:1:task-a")
    finally:
        unregister("slow")

    assert seen == {"duplicate": "held"}
    job = reload(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.result_summary == {"slept": True}


def test_a_database_error_leaves_the_job_to_the_tasks_retry(transactional_db, tenant_a) -> None:
    """The attempt is not failed for an outage: the retry (same task) takes it over and runs."""
    calls: list[int] = []

    def flaky_pipeline(ctx: runner.JobContext) -> dict:
        calls.append(ctx.job.attempts)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return {"calls": len(calls)}

    register(Solution("flaky", "Flaky", "", (".txt",), flaky_pipeline))
    try:
        job = Job.objects.all_tenants().create(tenant=tenant_a, solution="flaky")
        with pytest.raises(OperationalError):
            runner.run_job(str(job.pk), "worker-1.example:1:task-a")
        assert reload(job).status == JobStatus.RUNNING

        runner.run_job(str(job.pk), "worker-1.example:1:task-a")
    finally:
        unregister("flaky")

    job = reload(job)
    assert calls == [1, 2]
    assert job.status == JobStatus.SUCCEEDED
    assert job.result_summary == {"calls": 2}
