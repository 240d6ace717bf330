"""Jobs and their input files, and the tenant webhooks told when a job finishes.

Every change of these rows goes through `quorum.jobs.services`; the runner and the Celery tasks
call those services too.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.text import get_valid_filename

from quorum.tenancy.scoping import TenantOwned


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Job(TenantOwned):
    """One run of a solution's pipeline on a tenant's inputs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    solution = models.CharField(max_length=64, db_index=True)  # a name in solutions.registry
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)  # percent, 0-100
    progress_message = models.CharField(max_length=300, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result_summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)  # readable by the user who ran the job
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The tenant adapter version the job ran with; becomes a foreign key with tenant adapters,
    # so "none" is NULL (as the key column will be), not "".
    adapter_version_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The lease a running attempt holds on this row: "host:pid:task id" and when it lapses
    # unless the attempt's heartbeat renews it.
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="job_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.solution} job {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


def job_file_key(job_file: "JobFile", filename: str) -> str:
    """Storage key of an input file: under its tenant and job, with a filesystem-safe name."""
    safe_name = get_valid_filename(filename.rsplit("/", 1)[-1]) or "upload"
    return f"tenants/{job_file.tenant_id}/jobs/{job_file.job_id}/{safe_name}"


class JobFile(TenantOwned):
    """An input file of a job, kept in Django's default storage (S3 in production)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)  # the name the user uploaded it under
    file = models.FileField(upload_to=job_file_key, max_length=500)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookEvent(models.TextChoices):
    JOB_SUCCEEDED = "job.succeeded", "Job succeeded"
    JOB_FAILED = "job.failed", "Job failed"
    JOB_CANCELLED = "job.cancelled", "Job cancelled"


def all_webhook_events() -> list[str]:
    return [event.value for event in WebhookEvent]


class WebhookEndpoint(TenantOwned):
    """A tenant's URL that receives signed job events (Standard Webhooks format)."""

    url = models.URLField(max_length=500)
    # Kept to sign each delivery (HMAC needs it); shown to the tenant admin only when created.
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    events = models.JSONField(default=all_webhook_events)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TenantOwned):
    """One event sent to one endpoint, with every attempt logged."""

    # The webhook-id header: the same on every retry, so receivers can drop duplicates.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    job = models.ForeignKey(
        Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # One entry per attempt: {"at": ISO time, "status_code": int | None, "error": str}.
    attempt_log = models.JSONField(default=list, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id} ({self.status})"
