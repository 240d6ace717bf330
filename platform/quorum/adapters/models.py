"""Tenant adapters: datasets, training runs, immutable adapter versions, the active version.

Every model is tenant-owned: the scoped manager keeps each tenant to its own rows. Files live
in Django storage under ``tenants/<tenant id>/adapters/`` (never a worker-local path).
"""

import uuid

from django.conf import settings
from django.db import models

from quorum.tenancy.scoping import TenantOwned


class DatasetSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    CORRECTIONS = "corrections", "Reviewed corrections"


class AdapterDataset(TenantOwned):
    """Labelled rows for a solution, validated, with a holdout split fixed at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    solution = models.CharField(max_length=64)
    base_model = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=DatasetSource.choices)
    original_key = models.CharField(max_length=500, blank=True)  # the upload as sent ("" for corrections)
    rows_key = models.CharField(max_length=500)  # accepted rows, one JSON object per line
    row_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)  # DatasetReport.summary()
    # The tenant holdout: indices into the accepted rows, drawn once with `holdout_seed`;
    # `rows_sha256` pins the rows they index, so the split can never drift.
    holdout_indices = models.JSONField(default=list)
    holdout_seed = models.BigIntegerField(default=0)
    rows_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.solution})"


class AdapterVersion(TenantOwned):
    """One trained (or imported) adapter; never changed after creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    solution = models.CharField(max_length=64)
    base_model = models.CharField(max_length=64)
    number = models.PositiveIntegerField()  # 1, 2, ... per tenant and solution
    storage_prefix = models.CharField(max_length=500)  # holds adapter_config.json + adapter_model.safetensors
    lora_options = models.JSONField(default=dict)
    metric_name = models.CharField(max_length=64, blank=True)
    adapter_metrics = models.JSONField(default=dict)  # on the tenant holdout
    base_metrics = models.JSONField(default=dict)  # the base model on the same holdout
    model_card = models.TextField(blank=True)
    dataset = models.ForeignKey(AdapterDataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="versions")
    imported = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "solution", "number"], name="adapter_version_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.solution} adapter v{self.number}"


class AdapterTrainingRun(TenantOwned):
    """A training request: dataset, options, the Job that runs it, its loss curve and result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="adapter_training")
    dataset = models.ForeignKey(AdapterDataset, on_delete=models.PROTECT, related_name="training_runs")
    solution = models.CharField(max_length=64)
    base_model = models.CharField(max_length=64)
    options = models.JSONField(default=dict)  # LoRA options and training settings
    loss_curve = models.JSONField(default=list)  # one point per epoch: epoch, train_loss, valid_loss, metric
    version = models.OneToOneField(
        AdapterVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class ActiveAdapter(TenantOwned):
    """The version a tenant's jobs of a solution use; one row per tenant and solution."""

    solution = models.CharField(max_length=64)
    version = models.ForeignKey(AdapterVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(AdapterVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "solution"], name="active_adapter_unique")]
