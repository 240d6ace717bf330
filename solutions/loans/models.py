"""Loan scoring rows: a tenant's credit policy, scored applications, and uploaded outcomes."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from quorum.tenancy.scoping import TenantOwned
from solutions.loans.scoring import DEFAULT_GRADE_BANDS, PolicySettings


class ScoringModel(models.TextChoices):
    GERMAN = "german", "Consumer loans (German Credit schema)"
    TAIWAN = "taiwan", "Credit-card accounts (Taiwan schema)"


def default_grade_bands() -> list[list]:
    return [list(band) for band in DEFAULT_GRADE_BANDS]


class LoanPolicy(TenantOwned):
    """A tenant's credit policy: PD cut-offs, hard rules, score scaling and grade bands."""

    approve_max_pd = models.FloatField(default=0.15, help_text="Approve at or below this PD.")
    decline_min_pd = models.FloatField(default=0.40, help_text="Decline at or above this PD; refer in between.")
    min_age = models.PositiveSmallIntegerField(default=18, help_text="Younger applicants are declined.")
    max_age = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Older applicants are referred.")
    base_score = models.FloatField(default=600.0, help_text="Score points at the base odds.")
    base_odds = models.FloatField(default=50.0, help_text="Good:bad odds that score the base points.")
    pdo = models.FloatField(default=20.0, help_text="Points to double the odds.")
    grade_bands = models.JSONField(default=default_grade_bands, help_text='[["A", 0.02], ..., ["G", 1.0]]: grade and its highest PD.')
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_loan_policy_per_tenant")]
        verbose_name_plural = "loan policies"

    def __str__(self) -> str:
        return f"Loan policy of tenant {self.tenant_id}"

    def settings(self) -> PolicySettings:
        return PolicySettings(
            approve_max_pd=self.approve_max_pd, decline_min_pd=self.decline_min_pd,
            min_age=self.min_age, max_age=self.max_age, base_score=self.base_score,
            base_odds=self.base_odds, pdo=self.pdo, grade_bands=self.grade_bands,
        )

    def clean(self) -> None:
        try:
            self.settings()
        except (ValueError, TypeError, IndexError) as exc:
            raise ValidationError(str(exc)) from exc


class ApplicationStatus(models.TextChoices):
    SCORED = "scored", "Scored"
    ERROR = "error", "Error"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REFER = "refer", "Refer"
    DECLINE = "decline", "Decline"


class ScoredApplication(TenantOwned):
    """One input application of a job and its outcome; `index` keeps the input order."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="loan_applications")
    index = models.PositiveIntegerField()  # 0-based position in the input
    model_name = models.CharField(max_length=20, choices=ScoringModel.choices)
    input = models.JSONField()  # the application as received
    status = models.CharField(max_length=10, choices=ApplicationStatus.choices)
    errors = models.JSONField(default=dict, blank=True)  # field -> messages, for error rows
    pd = models.FloatField(null=True, blank=True)
    score = models.IntegerField(null=True, blank=True)
    grade = models.CharField(max_length=10, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    reasons = models.JSONField(default=list, blank=True)  # [{feature, text, value, contribution}]
    policy_rules = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_loan_row_per_input")]
        indexes = [models.Index(fields=["tenant", "model_name", "-created_at"], name="loan_tenant_model_recent")]

    def __str__(self) -> str:
        return f"application {self.index} of job {self.job_id}"


class Outcome(TenantOwned):
    """The observed outcome of a scored application (1 = defaulted), uploaded for calibration."""

    application = models.OneToOneField(ScoredApplication, on_delete=models.CASCADE, related_name="outcome")
    defaulted = models.BooleanField()
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"outcome of {self.application_id}: {'default' if self.defaulted else 'repaid'}"
