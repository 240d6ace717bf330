"""Jobs that run inline, inside the request that asked for them (real-time scoring).

A real-time endpoint answers in its response, yet the audit trail still needs a Job row like
any queued job: who asked, when, with what parameters, and the result. `run_inline_job` records
one that starts running at once, runs `work(job)` in the caller's process and ends succeeded
(its return value is the result summary) or failed, all in one transaction with the audit events.
Like any finished job it is announced to the tenant's webhook endpoints once that commits.
"""

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from quorum.audit.services import record
from quorum.jobs.models import Job, JobStatus
from quorum.jobs.services import queue_webhooks
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions import registry


def run_inline_job(
    *,
    tenant: Tenant,
    user: Any,
    solution: str,
    work: Callable[[Job], dict],
    params: dict | None = None,
    api_key: Any = None,
    request: HttpRequest | None = None,
) -> Job:
    """Record a job that `work(job)` runs now; returns the finished job.

    An exception from `work` rolls everything back (no job, no results) and propagates: the
    caller answers the error, and no half-finished job is left behind.
    """
    registered = registry.get(solution)
    now = timezone.now()
    with transaction.atomic(), tenant_scope(tenant):
        job = Job.objects.create(
            tenant=tenant,
            solution=registered.name,
            params=params or {},
            status=JobStatus.RUNNING,
            attempts=1,
            started_at=now,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            api_key=api_key,
        )
        record(tenant=tenant, actor=user, action="job.create", obj=job, request=request,
               detail={"solution": registered.name, "inline": True})
        job.result_summary = work(job)
        job.status = JobStatus.SUCCEEDED
        job.progress = 100
        job.progress_message = "Done."
        job.finished_at = timezone.now()
        job.save(update_fields=["result_summary", "status", "progress", "progress_message", "finished_at"])
        record(tenant=tenant, actor=user, action="job.succeeded", obj=job, request=request)
        queue_webhooks(job)
    return job
