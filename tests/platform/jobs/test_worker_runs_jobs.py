"""Jobs on a real Redis and a real Celery worker: progress, crash recovery, cancel, retry cap,
a Redis restart."""

import signal

import pytest

from quorum.jobs.models import Job, JobStatus
from quorum.jobs.services import QueueUnavailable, cancel_job, create_job
from quorum.tenancy.scoping import tenant_scope
from tests.platform.jobs.echo_solution.models import EchoResult
from tests.platform.jobs.support import text_file, wait_for_job


def echo_rows(tenant, job) -> list[tuple[int, int]]:
    with tenant_scope(tenant):
        return list(EchoResult.objects.filter(job=job).values_list("line_number", "attempt"))


def test_a_job_runs_end_to_end_with_rising_progress(echo_worker, tenant_a, analyst_a) -> None:
    worker = echo_worker()
    job = create_job(
        tenant=tenant_a,
        user=analyst_a,
        solution="echo",
        files=[text_file(5)],
        params={"sleep": 0.3},
    )
    seen: list[int] = []

    job = wait_for_job(
        job.pk,
        lambda j: j.is_finished,
        worker_log=worker.log,
        on_poll=lambda j: seen.append(j.progress),
    )

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 100
    assert job.result_summary == {"lines": 5, "attempt": 1}
    assert job.attempts == 1
    assert job.started_at <= job.finished_at
    assert seen == sorted(seen)
    assert len({p for p in seen if 0 < p < 100}) >= 2, seen
    assert echo_rows(tenant_a, job) == [(n, 1) for n in range(1, 6)]


def test_a_worker_killed_mid_job_is_restarted_and_the_job_completes_once(
    echo_worker, tenant_a, analyst_a
) -> None:
    worker = echo_worker()
    job = create_job(
        tenant=tenant_a,
        user=analyst_a,
        solution="echo",
        files=[text_file(6)],
        params={"sleep": 0.4},
    )
    wait_for_job(job.pk, lambda j: j.progress >= 40, worker_log=worker.log)

    worker.kill(signal.SIGKILL)
    partial = echo_rows(tenant_a, job)
    assert 0 < len(partial) < 6
    worker.start()
    job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert echo_rows(tenant_a, job) == [(n, 2) for n in range(1, 7)]


def test_a_cancelled_job_stops_before_the_end(echo_worker, tenant_a, analyst_a) -> None:
    worker = echo_worker()
    job = create_job(
        tenant=tenant_a,
        user=analyst_a,
        solution="echo",
        files=[text_file(20)],
        params={"sleep": 0.2},
    )
    wait_for_job(job.pk, lambda j: j.progress >= 10, worker_log=worker.log)

    cancel_job(job, analyst_a)
    job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)

    assert job.status == JobStatus.CANCELLED
    assert job.progress < 100
    assert job.result_summary == {}
    assert echo_rows(tenant_a, job) == []


def test_a_job_that_crashes_its_worker_every_time_fails_after_the_cap(
    echo_worker, tenant_a, analyst_a
) -> None:
    worker = echo_worker(QUORUM_JOB_MAX_ATTEMPTS="2")
    job = create_job(
        tenant=tenant_a,
        user=analyst_a,
        solution="echo",
        files=[text_file(3)],
        params={"exit_at_step": 2},
    )

    job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)

    assert job.status == JobStatus.FAILED
    assert job.attempts == 2
    assert "crashed its worker 2 times" in job.error
    assert echo_rows(tenant_a, job) == []  # the rows the last attempt wrote before dying


def test_a_pipeline_failure_is_saved_as_a_readable_error(echo_worker, tenant_a, analyst_a) -> None:
    worker = echo_worker()
    job = create_job(
        tenant=tenant_a,
        user=analyst_a,
        solution="echo",
        files=[text_file(3)],
        params={"fail_at_step": 2},
    )

    job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)

    assert job.status == JobStatus.FAILED
    assert job.error == "line 2 says stop: 'line 2'"
    assert echo_rows(tenant_a, job) == []


def test_queued_jobs_survive_a_redis_restart_and_submissions_meanwhile_get_503(
    echo_worker, redis_server_process, tenant_a, analyst_a
) -> None:
    queued = [
        create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])
        for _ in range(2)
    ]
    redis_server_process.stop()

    with pytest.raises(QueueUnavailable):
        create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])
    assert Job.objects.all_tenants().count() == 2

    redis_server_process.start()
    worker = echo_worker()
    after = create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])
    for job in [*queued, after]:
        job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)
        assert job.status == JobStatus.SUCCEEDED, job.error


def test_a_job_runs_on_a_worker_of_its_solutions_queue(echo_worker, tenant_a, analyst_a) -> None:
    training_worker = echo_worker(queues="training")
    cpu_worker = echo_worker(queues="cpu")
    job = create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])

    job = wait_for_job(job.pk, lambda j: j.is_finished, worker_log=cpu_worker.log)

    assert job.status == JobStatus.SUCCEEDED
    assert f"job {job.pk}: attempt 1 of echo starts" in cpu_worker.log()
    assert str(job.pk) not in training_worker.log()
