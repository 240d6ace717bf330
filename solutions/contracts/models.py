"""Contract review rows: a tenant's playbook, each analysed document, its findings (with the
analyst's review, kept as labelled data for adapter training), key terms and playbook results."""

from django.conf import settings
from django.db import models

from quorum.tenancy.scoping import TenantOwned
from solutions.contracts.playbook import default_rules_copy


class Playbook(TenantOwned):
    """A tenant's review rules (playbook.py describes the JSON); one per tenant."""

    rules = models.JSONField(default=default_rules_copy)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_contract_playbook_per_tenant")]

    def __str__(self) -> str:
        return f"Contract playbook of tenant {self.tenant_id}"


class DocumentStatus(models.TextChoices):
    ANALYSED = "analysed", "Analysed"
    ERROR = "error", "Error"


class ContractDocument(TenantOwned):
    """One uploaded file of a job: its extracted text and page spans, or why it could not be read."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="contract_documents")
    index = models.PositiveIntegerField()  # position of the file in the job
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, blank=True)  # pdf, docx, txt, html
    status = models.CharField(max_length=10, choices=DocumentStatus.choices)
    error = models.TextField(blank=True)
    text = models.TextField(blank=True)
    pages = models.JSONField(default=list, blank=True)  # [[start, end], ...] of each page in text
    segments = models.JSONField(default=list, blank=True)  # [[start, end], ...] sentence segments
    risk = models.CharField(max_length=10, blank=True)  # low, medium, high (playbook.risk_level)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_contract_document_per_file")]

    def __str__(self) -> str:
        return self.name

    def page_of(self, offset: int) -> int:
        page = 1
        for number, (start, _) in enumerate(self.pages, start=1):
            if start <= offset:
                page = number
        return page


class FindingStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Finding(TenantOwned):
    """A clause the model found: category, score and exact [start, end) into the document text."""

    document = models.ForeignKey(ContractDocument, on_delete=models.CASCADE, related_name="findings")
    category = models.CharField(max_length=64)
    score = models.FloatField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.PROPOSED)
    # The analyst's category when it differs from the model's; the label adapter training reads.
    relabelled_category = models.CharField(max_length=64, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["document", "start", "category"]
        indexes = [models.Index(fields=["tenant", "status"], name="contract_finding_review")]

    def __str__(self) -> str:
        return f"{self.category} at {self.start}-{self.end}"

    @property
    def final_category(self) -> str:
        return self.relabelled_category or self.category


class KeyTerm(TenantOwned):
    document = models.ForeignKey(ContractDocument, on_delete=models.CASCADE, related_name="key_terms")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=255)
    text = models.TextField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["document", "position"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class PlaybookResult(TenantOwned):
    document = models.ForeignKey(ContractDocument, on_delete=models.CASCADE, related_name="playbook_results")
    position = models.PositiveIntegerField()
    rule = models.JSONField()
    status = models.CharField(max_length=10)  # pass, fail, missing
    message = models.TextField()
    evidence = models.JSONField(default=list, blank=True)  # [{start, end, text, score}]

    class Meta:
        ordering = ["document", "position"]

    def __str__(self) -> str:
        return f"{self.rule.get('label')}: {self.status}"
