"""Objects of contract review for tests outside this folder (the platform's URL walk)."""

from typing import Any

from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions.contracts.models import ContractDocument, Finding, KeyTerm, PlaybookResult

SAMPLE_TEXT = "This Agreement is governed by the laws of the State of Delaware. Liability is capped at $10,000."


def one_contract_document(job: Job) -> Finding:
    """Give a succeeded contracts job one analysed document (index 0) with a finding, a key term
    and a playbook result; returns the finding."""
    document = ContractDocument.objects.create(
        tenant_id=job.tenant_id, job=job, index=0, name=f"contract-{job.pk}.txt", kind="txt", status="analysed",
        text=SAMPLE_TEXT, pages=[[0, len(SAMPLE_TEXT)]], segments=[[0, 64], [65, len(SAMPLE_TEXT)]], risk="low",
    )
    KeyTerm.objects.create(tenant_id=job.tenant_id, document=document, position=0, kind="governing_law",
                           value="Delaware", text="Delaware", start=55, end=63)
    PlaybookResult.objects.create(tenant_id=job.tenant_id, document=document, position=0,
                                  rule={"kind": "clause_required", "category": "Cap on Liability", "label": "Cap"},
                                  status="pass", message="Cap on Liability found.", evidence=[])
    return Finding.objects.create(tenant_id=job.tenant_id, document=document, category="Cap on Liability", score=0.9,
                                  start=65, end=len(SAMPLE_TEXT), text=SAMPLE_TEXT[65:], page=1)


def build_finding(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    """A finding of a new succeeded contracts job of `tenant` (URL walk builder for finding_id)."""
    job = Job.objects.create(tenant=tenant, solution="contracts", created_by=user, status=JobStatus.SUCCEEDED, progress=100)
    with tenant_scope(tenant):
        finding = one_contract_document(job)
    return str(finding.pk), f"contract-{job.pk}"
