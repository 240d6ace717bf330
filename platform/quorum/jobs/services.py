"""Every way a job or a webhook endpoint changes: create, cancel, claim, progress, finish.

Views, the runner and the Celery tasks call these functions; nothing else writes these rows.
State transitions of a running job are conditional UPDATEs on the row (status and lease
owner in the WHERE clause), so two workers that got the same message can never both win.
"""

import logging
import os
import secrets
import socket
from base64 import b64encode
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework.exceptions import APIException

from quorum.audit.services import record
from quorum.jobs.models import (
    TERMINAL_STATUSES,
    DeliveryStatus,
    Job,
    JobFile,
    JobStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from quorum.jobs.webhook_addresses import refused_address
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions import registry

logger = logging.getLogger(__name__)

WEBHOOK_SECRET_BYTES = 32


class UploadRejected(ValueError):
    """An upload that a job cannot take; the message tells the user what to send instead."""


class QueueUnavailable(APIException):
    """The broker did not take the job; nothing was kept.

    An APIException so that every API view answers it the same way: 503 with Retry-After.
    """

    status_code = 503
    default_code = "queue_unavailable"
    wait = 30  # seconds; DRF's exception handler sends it as Retry-After


# ---------------------------------------------------------------------------------------------
# Creating and cancelling jobs


def readable_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _extension(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def validate_upload(upload: UploadedFile, solution: registry.Solution) -> None:
    """Refuse an empty, oversized or wrongly typed file with a message the user can act on."""
    name = upload.name or "the file"
    limit = settings.QUORUM_MAX_UPLOAD_BYTES
    if upload.size is None or upload.size == 0:
        raise UploadRejected(f"{name} is empty.")
    if upload.size > limit:
        raise UploadRejected(
            f"{name} is {readable_size(upload.size)}; files may be at most "
            f"{readable_size(limit)}."
        )
    extensions = {kind.lower() for kind in solution.input_kinds if kind.startswith(".")}
    media_types = {kind.lower() for kind in solution.input_kinds if "/" in kind}
    if any(name.lower().endswith(extension) for extension in extensions):  # ".tar.gz" too
        return
    if media_types and (upload.content_type or "").lower() in media_types:
        return
    accepted = ", ".join(solution.input_kinds) or "no files"
    kind = f"{_extension(name)} files" if _extension(name) else "files without an extension"
    raise UploadRejected(f"{name}: {solution.title} does not take {kind}; send {accepted}.")


def _json_params(params: dict | None) -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError("job params must be a JSON object (a dict)")
    # Round-trip through the encoder so a non-JSON value fails here, not in the worker.
    DjangoJSONEncoder().encode(params)
    return params


def create_job(
    *,
    tenant: Tenant,
    user: Any,
    solution: str,
    files: Sequence[UploadedFile] = (),
    params: dict | None = None,
    api_key: Any = None,
    request: HttpRequest | None = None,
) -> Job:
    """Validate the uploads, store the job and its files, audit it, enqueue it after commit.

    Raises UploadRejected for a file the solution cannot take, and QueueUnavailable when the
    broker cannot take the job; in both cases nothing is stored. Called inside an outer
    transaction, the job is enqueued when that transaction commits.
    """
    registered = registry.get(solution)
    for upload in files:
        validate_upload(upload, registered)
    params = _json_params(params)
    stored_keys: list[str] = []
    try:
        with transaction.atomic(), tenant_scope(tenant):
            job = Job.objects.create(
                tenant=tenant,
                solution=registered.name,
                params=params,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                api_key=api_key,
            )
            for upload in files:
                job_file = JobFile(
                    tenant=tenant,
                    job=job,
                    name=(upload.name or "upload")[:255],
                    size=upload.size,
                    content_type=(upload.content_type or "")[:200],
                )
                job_file.file.save(upload.name or "upload", upload, save=False)
                stored_keys.append(job_file.file.name)
                job_file.save()
            record(
                tenant=tenant,
                actor=user,
                action="job.create",
                obj=job,
                request=request,
                detail={"solution": registered.name, "files": [f.name for f in files]},
            )
    except BaseException:
        # The rows rolled back; the stored files would be orphans, so they go too.
        for key in stored_keys:
            default_storage.delete(key)
        raise
    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction: the worker must not look before that commits.
        transaction.on_commit(lambda: enqueue_job(job))
        return job
    try:
        enqueue_job(job)
    except KombuOperationalError as error:
        logger.error("job %s: the queue is unreachable, job discarded: %s", job.pk, error)
        discard_unqueued_job(job, user, request=request)
        raise QueueUnavailable(
            "The job queue is not reachable right now, so the job was not kept. "
            f"Send it again in {QueueUnavailable.wait} seconds."
        ) from error
    return job


def discard_unqueued_job(job: Job, user: Any, request: HttpRequest | None = None) -> None:
    """Remove a job the queue never took, with its files, so no job waits forever."""
    with transaction.atomic(), tenant_scope(job.tenant_id):
        keys = [job_file.file.name for job_file in job.files.all()]
        record(
            tenant=job.tenant,
            actor=user,
            action="job.discard",
            obj=job,
            request=request,
            detail={"reason": "the job queue was unreachable"},
        )
        job.delete()
    for key in keys:
        default_storage.delete(key)


def enqueue_job(job: Job) -> None:
    """Send the job to its solution's queue (call after the row is committed)."""
    from quorum.jobs.tasks import run_job

    run_job.apply_async(args=[str(job.pk)], queue=registry.get(job.solution).queue)


def cancel_job(job: Job, user: Any, request: HttpRequest | None = None) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one at its next check."""
    if job.status in TERMINAL_STATUSES:
        return job
    now = timezone.now()
    rows = Job.objects.all_tenants().filter(pk=job.pk)
    with transaction.atomic():
        cancelled_now = rows.filter(status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            progress_message="Cancelled before it started.",
        )
        if not cancelled_now:
            rows.exclude(status__in=TERMINAL_STATUSES).update(cancel_requested=True)
        job.refresh_from_db()
        record(tenant=job.tenant, actor=user, action="job.cancel", obj=job, request=request)
        if cancelled_now:
            queue_webhooks(job)
    return job


# ---------------------------------------------------------------------------------------------
# The lease a running attempt holds on its job row


class Claim(Enum):
    CLAIMED = "claimed"  # this attempt holds the lease and runs the pipeline
    HELD = "held"  # another live attempt holds a fresh lease: this delivery is a duplicate
    FINISHED = "finished"  # the job is already in a final state
    MISSING = "missing"  # no such job (deleted since it was queued)
    EXHAUSTED = "exhausted"  # the job used up its attempts and is now failed


def lease_owner_name(task_id: str) -> str:
    """Who holds a lease: this host, this process and the Celery task id."""
    return f"{socket.gethostname()}:{os.getpid()}:{task_id}"


def lease_holder_is_dead(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists.

    A pool process that crashed cannot renew its lease; its job's message comes back at once
    (reject on worker lost), and waiting for the lease to lapse would drop it as a duplicate.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lease_expiry() -> Any:
    return timezone.now() + timedelta(seconds=settings.QUORUM_JOB_LEASE_SECONDS)


def claim_job(job_id: str, owner: str) -> Claim:
    """Take the lease of a job for one attempt, with one conditional UPDATE.

    The job can be claimed when it is queued, or running under a lease that has lapsed or whose
    holder is dead; then attempts goes up by one. A job that would exceed
    QUORUM_JOB_MAX_ATTEMPTS is failed instead: it keeps killing the workers that run it.
    """
    rows = Job.objects.all_tenants().filter(pk=job_id)
    current = rows.values("status", "lease_owner", "lease_expires_at", "attempts").first()
    if current is None:
        return Claim.MISSING
    if current["status"] in TERMINAL_STATUSES:
        return Claim.FINISHED
    now = timezone.now()
    takeover = Q(status=JobStatus.RUNNING) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    # A retry of this very task in this very process is not a duplicate: it runs again.
    takeover |= Q(status=JobStatus.RUNNING, lease_owner=owner)
    if current["status"] == JobStatus.RUNNING and lease_holder_is_dead(current["lease_owner"]):
        takeover |= Q(status=JobStatus.RUNNING, lease_owner=current["lease_owner"])
    claimable = rows.filter(Q(status=JobStatus.QUEUED) | takeover)
    claimed = claimable.filter(attempts__lt=settings.QUORUM_JOB_MAX_ATTEMPTS).update(
        status=JobStatus.RUNNING,
        lease_owner=owner,
        lease_expires_at=_lease_expiry(),
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
    )
    if claimed:
        return Claim.CLAIMED
    attempts = current["attempts"]
    with transaction.atomic():
        exhausted = claimable.filter(attempts__gte=settings.QUORUM_JOB_MAX_ATTEMPTS).update(
            status=JobStatus.FAILED,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
            error=(
                f"The job crashed its worker {attempts} times, so it was stopped. "
                "Check its input files, or contact support if it keeps happening."
            ),
        )
        if exhausted:
            job = rows.select_related("tenant").get()
            # The last attempt died halfway; a failed job keeps no partial results.
            clear_results = registry.get(job.solution).clear_results
            if clear_results is not None:
                with tenant_scope(job.tenant):
                    clear_results(job)
            record(tenant=job.tenant, actor=None, action="job.failed", obj=job)
            queue_webhooks(job)
            return Claim.EXHAUSTED
    status = rows.values_list("status", flat=True).first()
    if status is None:
        return Claim.MISSING
    return Claim.FINISHED if status in TERMINAL_STATUSES else Claim.HELD


def renew_lease(job_id: str, owner: str) -> bool:
    """Extend the lease if `owner` still holds it; False means another attempt took over."""
    return bool(
        Job.objects.all_tenants()
        .filter(pk=job_id, lease_owner=owner, status=JobStatus.RUNNING)
        .update(lease_expires_at=_lease_expiry())
    )


@dataclass(frozen=True)
class ProgressState:
    lease_held: bool
    cancel_requested: bool


def save_progress(job_id: str, owner: str, percent: int, message: str) -> ProgressState:
    """Write the attempt's progress (renewing its lease) and read whether cancel was asked."""
    rows = Job.objects.all_tenants().filter(pk=job_id)
    held = rows.filter(lease_owner=owner, status=JobStatus.RUNNING).update(
        progress=max(0, min(100, percent)),
        progress_message=message[:300],
        lease_expires_at=_lease_expiry(),
    )
    return ProgressState(lease_held=bool(held), cancel_requested=is_cancel_requested(job_id))


def is_cancel_requested(job_id: str) -> bool:
    return bool(
        Job.objects.all_tenants().filter(pk=job_id).values_list("cancel_requested", flat=True)
        .first()
    )


def _finish(job_id: str, owner: str, **fields: Any) -> Job | None:
    """Move a running job held by `owner` to a final state; None when the lease was lost."""
    rows = Job.objects.all_tenants().filter(pk=job_id)
    with transaction.atomic():
        finished = rows.filter(lease_owner=owner, status=JobStatus.RUNNING).update(
            finished_at=timezone.now(), lease_owner="", lease_expires_at=None, **fields
        )
        if not finished:
            logger.warning("job %s: lost its lease to another attempt; result not saved", job_id)
            return None
        job = rows.select_related("tenant").get()
        record(tenant=job.tenant, actor=None, action=f"job.{job.status}", obj=job)
        queue_webhooks(job)
    return job


def mark_succeeded(job_id: str, owner: str, result_summary: dict) -> Job | None:
    return _finish(
        job_id,
        owner,
        status=JobStatus.SUCCEEDED,
        progress=100,
        progress_message="Done.",
        result_summary=result_summary,
        error="",
    )


def mark_failed(job_id: str, owner: str, error: str) -> Job | None:
    return _finish(job_id, owner, status=JobStatus.FAILED, error=error)


def mark_cancelled(job_id: str, owner: str) -> Job | None:
    return _finish(
        job_id, owner, status=JobStatus.CANCELLED, progress_message="Cancelled while running."
    )


# ---------------------------------------------------------------------------------------------
# Webhook endpoints and deliveries

_EVENT_FOR_STATUS = {
    JobStatus.SUCCEEDED: WebhookEvent.JOB_SUCCEEDED,
    JobStatus.FAILED: WebhookEvent.JOB_FAILED,
    JobStatus.CANCELLED: WebhookEvent.JOB_CANCELLED,
}


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and base64 of 32 random bytes."""
    return "whsec_" + b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


def validate_webhook_url(url: str) -> str:
    """An absolute http(s) URL, or ValidationError with a readable message."""
    url = (url or "").strip()
    if urlsplit(url).scheme.lower() not in {"http", "https"}:
        raise ValidationError("A webhook URL must start with http:// or https://.")
    URLValidator(schemes=["http", "https"], message="Enter a valid http(s) URL.")(url)
    refused = refused_address(url)
    if refused:
        raise ValidationError(f"Webhooks go to public addresses only: {refused}.")
    return url


def create_webhook_endpoint(
    tenant: Tenant, user: Any, url: str, request: HttpRequest | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which the caller shows once."""
    url = validate_webhook_url(url)
    secret = generate_webhook_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.all_tenants().create(
            tenant=tenant,
            url=url,
            secret=secret,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        record(tenant=tenant, actor=user, action="webhook.create", obj=endpoint, request=request)
    return endpoint, secret


def delete_webhook_endpoint(
    endpoint: WebhookEndpoint, user: Any, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        record(
            tenant=endpoint.tenant,
            actor=user,
            action="webhook.delete",
            obj=endpoint,
            request=request,
        )
        endpoint.delete()


def queue_webhooks(job: Job) -> list[WebhookDelivery]:
    """Create a delivery per subscribed endpoint for a finished job and send them after commit."""
    from quorum.jobs.tasks import deliver_webhook
    from quorum.jobs.webhooks import job_event_payload

    event = _EVENT_FOR_STATUS.get(JobStatus(job.status))
    if event is None:
        return []
    endpoints = WebhookEndpoint.objects.all_tenants().filter(tenant_id=job.tenant_id, active=True)
    deliveries = []
    for endpoint in endpoints:
        if event.value not in endpoint.events:
            continue
        delivery = WebhookDelivery.objects.all_tenants().create(
            tenant_id=job.tenant_id,
            endpoint=endpoint,
            job=job,
            event_type=event.value,
            payload=job_event_payload(job, event.value),
        )
        deliveries.append(delivery)
        # robust: a broker outage must not undo the job's final state; the row stays pending.
        transaction.on_commit(
            lambda delivery_id=str(delivery.pk): deliver_webhook.delay(delivery_id), robust=True
        )
    return deliveries


def record_delivery_attempt(
    delivery: WebhookDelivery,
    *,
    status_code: int | None,
    response_excerpt: str,
    error: str,
    final: bool,
) -> WebhookDelivery:
    """Log one attempt; a 2xx marks it delivered, a final failure marks it failed."""
    now = timezone.now()
    delivered = status_code is not None and 200 <= status_code < 300
    delivery.attempts += 1
    delivery.attempt_log = [
        *delivery.attempt_log,
        {"at": now.isoformat(), "status_code": status_code, "error": error},
    ]
    delivery.status_code = status_code
    delivery.response_excerpt = response_excerpt
    delivery.error = error
    if delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif final:
        delivery.status = DeliveryStatus.FAILED
    delivery.save(
        update_fields=[
            "attempts",
            "attempt_log",
            "status_code",
            "response_excerpt",
            "error",
            "status",
            "delivered_at",
        ]
    )
    return delivery
