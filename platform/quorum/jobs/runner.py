"""Run one attempt of a job: claim its lease, run the solution's pipeline, save the outcome.

The Celery task `quorum.jobs.tasks.run_job` calls `run_job`; a pipeline sees only `JobContext`.
While the pipeline runs, a heartbeat thread renews the lease every lease/3 seconds, so a slow
step between two progress calls does not look like a dead worker.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, close_old_connections, connection

from quorum.jobs import services
from quorum.jobs.models import Job, JobFile
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions import registry

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a pipeline when the job's cancel was requested; the runner stops it."""


class JobFailed(Exception):
    """Raised by a pipeline for a failure the user can act on; the message is shown as is."""


class LeaseLost(Exception):
    """Another attempt took the job over (this one was presumed dead); stop without saving."""


@dataclass
class JobContext:
    """What a pipeline gets: the job, its tenant, params and files, and progress reporting."""

    job: Job
    tenant: Tenant
    params: dict
    files: list[JobFile]
    lease_owner: str
    adapter: Any = None  # the AdapterVersion the job runs with (quorum.adapters), or None
    _lease_lost: threading.Event = field(default_factory=threading.Event, repr=False)

    def open_file(self, job_file: JobFile) -> IO[bytes]:
        """The input file's bytes from storage (local disk or S3; never a worker-local path)."""
        return default_storage.open(job_file.file.name, "rb")

    def progress(self, percent: float, message: str = "") -> None:
        """Save progress and renew the lease; raises JobCancelled if cancel was requested."""
        state = services.save_progress(str(self.job.pk), self.lease_owner, round(percent), message)
        if not state.lease_held:
            self._lease_lost.set()
        self._raise_if_stopped(state.cancel_requested)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if cancel was requested (for loops that report no progress)."""
        self._raise_if_stopped(services.is_cancel_requested(str(self.job.pk)))

    def _raise_if_stopped(self, cancel_requested: bool) -> None:
        if self._lease_lost.is_set():
            raise LeaseLost(f"job {self.job.pk}: another attempt holds the lease")
        if cancel_requested:
            raise JobCancelled()


@contextmanager
def heartbeat(job_id: str, owner: str, lease_lost: threading.Event) -> Iterator[None]:
    """Renew the lease every lease/3 seconds in a thread until the block ends."""
    stop = threading.Event()
    interval = settings.QUORUM_JOB_LEASE_SECONDS / 3

    def beat() -> None:
        try:
            while not stop.wait(interval):
                if not services.renew_lease(job_id, owner):
                    lease_lost.set()
                    return
        except Exception:
            # A missed beat is survivable: the next one, or the next progress call, renews.
            logger.exception("job %s: heartbeat failed", job_id)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_job(job_id: str, lease_owner: str) -> services.Claim:
    """Run one attempt of the job unless it is finished, held by a live attempt, or exhausted."""
    close_old_connections()
    claim = services.claim_job(job_id, lease_owner)
    if claim is services.Claim.CLAIMED:
        job = Job.objects.all_tenants().select_related("tenant").get(pk=job_id)
        with tenant_scope(job.tenant):
            _run_claimed(job, lease_owner)
        return claim
    logger.info("job %s: not run (%s)", job_id, claim.value)
    return claim


def _run_claimed(job: Job, lease_owner: str) -> None:
    from quorum.adapters.services import adapter_for_job

    job_id = str(job.pk)
    solution = registry.get(job.solution)
    context = JobContext(
        job=job,
        tenant=job.tenant,
        params=job.params,
        files=list(job.files.all()),
        lease_owner=lease_owner,
        adapter=adapter_for_job(job),  # the version recorded when the job was created
    )
    logger.info("job %s: attempt %s of %s starts", job_id, job.attempts, job.solution)
    with heartbeat(job_id, lease_owner, context._lease_lost):
        try:
            # A previous attempt may have died halfway: start from no results at all.
            _clear_results(solution, job)
            context.check_cancelled()
            result = solution.pipeline(context)
            if not isinstance(result, dict):
                raise TypeError(f"{job.solution} pipeline returned {type(result).__name__}")
        except LeaseLost:
            logger.warning("job %s: attempt stopped, another attempt took over", job_id)
            return
        except JobCancelled:
            _clear_results(solution, job)
            services.mark_cancelled(job_id, lease_owner)
            return
        except JobFailed as failure:
            _clear_results(solution, job)
            services.mark_failed(job_id, lease_owner, str(failure) or "The job failed.")
            return
        except SoftTimeLimitExceeded:
            _clear_results(solution, job)
            services.mark_failed(
                job_id,
                lease_owner,
                f"The job ran longer than the {settings.QUORUM_JOB_TIME_LIMIT} s limit.",
            )
            return
        except DatabaseError:
            # Not the job's fault: the task retries the attempt once the database answers.
            raise
        except Exception as error:
            logger.exception("job %s: pipeline crashed", job_id)
            _clear_results(solution, job)
            services.mark_failed(
                job_id,
                lease_owner,
                f"{solution.title} hit an internal error ({type(error).__name__}); "
                "the team has the details in the worker log.",
            )
            return
    services.mark_succeeded(job_id, lease_owner, result)


def _clear_results(solution: registry.Solution, job: Job) -> None:
    if solution.clear_results is not None:
        solution.clear_results(job)
