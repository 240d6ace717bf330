"""Helpers for the job tests: small uploads and waiting on a job that a worker runs."""

import time
from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job


def text_file(lines: int, name: str = "input.txt") -> SimpleUploadedFile:
    body = "".join(f"line {number}\n" for number in range(1, lines + 1))
    return SimpleUploadedFile(name, body.encode(), content_type="text/plain")


def wait_for_job(
    job_id: object,
    until: Callable[[Job], bool],
    *,
    timeout: float = 60.0,
    worker_log: Callable[[], str] | None = None,
    on_poll: Callable[[Job], None] | None = None,
) -> Job:
    """Poll the job row until `until(job)` holds; fail with the worker's log if it never does."""
    deadline = time.monotonic() + timeout
    job = Job.objects.all_tenants().get(pk=job_id)
    while time.monotonic() < deadline:
        job = Job.objects.all_tenants().get(pk=job_id)
        if on_poll is not None:
            on_poll(job)
        if until(job):
            return job
        time.sleep(0.05)
    log = worker_log()[-6000:] if worker_log is not None else ""
    raise AssertionError(
        f"job {job_id} stuck: status={job.status} progress={job.progress} "
        f"attempts={job.attempts} error={job.error!r}\n{log}"
    )
