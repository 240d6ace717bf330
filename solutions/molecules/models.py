"""Screening results: one row per input molecule of a job, in input order."""

from django.db import models

from quorum.tenancy.scoping import TenantOwned


class ResultStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class ScreeningResult(TenantOwned):
    """One input row of a screening job: what was given, what RDKit made of it, what we predict.

    Rows never change once the job has finished, so page-number pagination over them is stable.
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="molecule_results")
    index = models.PositiveIntegerField()  # 0-based position in the job's input
    input_text = models.TextField(blank=True)  # the SMILES or the start of the mol block, capped
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=8, choices=ResultStatus.choices)
    error = models.TextField(blank=True)
    canonical_smiles = models.TextField(blank=True)
    inchikey = models.CharField(max_length=27, blank=True, db_index=True)
    duplicate_of = models.PositiveIntegerField(null=True, blank=True)  # index of the first copy
    changes = models.JSONField(default=list, blank=True)  # what standardisation changed
    descriptors = models.JSONField(default=dict, blank=True)
    rules = models.JSONField(default=dict, blank=True)
    alerts = models.JSONField(default=list, blank=True)  # [{catalog, name, atoms}]
    # "|CATALOG:name|CATALOG:name|" so that alert filters are plain substring lookups everywhere.
    alert_index = models.TextField(blank=True)
    predictions = models.JSONField(default=dict, blank=True)
    fingerprint = models.BinaryField(
        blank=True
    )  # packed Morgan bits (chemistry.packed_fingerprint)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="molecules_result_job_index")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index} {self.name or self.canonical_smiles}"
