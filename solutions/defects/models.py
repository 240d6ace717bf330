"""Defect inspection rows: one result per image of a job, the tenant's policy, engineers' reviews.

Heat maps and the small display copy of each part are PNG files in Django storage under
tenants/<tenant_id>/defects/<job_id>/, so web and worker share them through storage alone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from quorum.tenancy.scoping import TenantOwned


def result_file_key(result: InspectionResult, filename: str) -> str:
    return f"tenants/{result.tenant_id}/defects/{result.job_id}/{filename}"


class Decision(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    REVIEW = "review", "Review"


class InspectionResult(TenantOwned):
    """One image of a job: decision, class, score, map and boxes, or the reason it was refused."""

    class Status(models.TextChoices):
        OK = "ok", "Inspected"
        ERROR = "error", "Error"

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="defect_results")
    index = models.PositiveIntegerField()  # position in the job's input, across files and archives
    filename = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    defect_class = models.CharField(max_length=40, blank=True)  # most likely defect class
    top_class = models.CharField(max_length=40, blank=True)  # most likely class, "free" included
    class_probs = models.JSONField(default=dict)  # class -> probability
    defect_score = models.FloatField(null=True)  # probability that the part is defective
    threshold = models.FloatField(null=True)  # the fail threshold applied (per defect class)
    boxes = models.JSONField(default=list)  # [[x0, y0, x1, y1, score]] in the image's pixels
    heatmap = models.FileField(upload_to=result_file_key, max_length=500, blank=True)
    part_image = models.FileField(upload_to=result_file_key, max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="defects_result_job_index")]
        indexes = [
            models.Index(fields=["job", "decision"]),
            models.Index(fields=["job", "defect_class"]),
        ]

    def __str__(self) -> str:
        return f"{self.filename}: {self.decision or self.status}"


class InspectionPolicy(TenantOwned):
    """A tenant's decision policy: the target false-reject rate and the thresholds it gave."""

    target_false_reject_rate = models.FloatField(default=0.05)
    thresholds = models.JSONField(default=dict)  # defect class -> fail threshold
    default_threshold = models.FloatField(default=0.5)
    review_margin = models.FloatField(default=0.1)  # scores this far below a threshold go to review
    false_reject_rate = models.FloatField(null=True)  # on the validation split when saved
    escape_rate = models.FloatField(null=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="defects_one_policy_per_tenant")]

    def __str__(self) -> str:
        return f"target false-reject rate {self.target_false_reject_rate:.1%}"


class ReviewItem(TenantOwned):
    """An engineer's verdict on a result: the review queue, and labelled data for adapters."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        CONFIRMED = "confirmed", "Confirmed"
        CORRECTED = "corrected", "Corrected"

    result = models.OneToOneField(InspectionResult, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)  # the engineer's
    defect_class = models.CharField(max_length=40, blank=True)  # the engineer's; "free" = no defect
    note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"review of {self.result_id}: {self.status}"
