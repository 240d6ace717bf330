"""A job's review report as a JSON-ready dict and as CSV: documents, findings with their review,
key terms and playbook results."""

import csv
import io
from typing import Any

from solutions.contracts.models import ContractDocument

CSV_COLUMNS = ["document", "record", "category_or_kind", "status", "score", "value", "page", "start", "end", "text"]


def documents_of(job: Any):
    return (ContractDocument.objects.filter(job=job).order_by("index")
            .prefetch_related("findings", "key_terms", "playbook_results"))


def finding_dict(finding: Any) -> dict:
    return {"id": finding.pk, "category": finding.category, "final_category": finding.final_category,
            "score": round(finding.score, 4), "start": finding.start, "end": finding.end, "page": finding.page,
            "text": finding.text, "status": finding.status,
            "reviewed_at": finding.reviewed_at.isoformat() if finding.reviewed_at else None}


def document_dict(document: ContractDocument) -> dict:
    return {
        "index": document.index, "name": document.name, "kind": document.kind, "status": document.status,
        "error": document.error, "pages": len(document.pages), "risk": document.risk,
        "findings": [finding_dict(f) for f in document.findings.all()],
        "key_terms": [{"kind": t.kind, "value": t.value, "text": t.text, "start": t.start, "end": t.end, "detail": t.detail}
                      for t in document.key_terms.all()],
        "playbook": [{"rule": r.rule, "status": r.status, "message": r.message, "evidence": r.evidence}
                     for r in document.playbook_results.all()],
    }


def report_dict(job: Any) -> dict:
    return {"job_id": str(job.pk), "status": job.status, "summary": job.result_summary,
            "documents": [document_dict(d) for d in documents_of(job)]}


def report_csv(job: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for document in documents_of(job):
        if document.error:
            writer.writerow([document.name, "error", "", "error", "", document.error, "", "", "", ""])
        for f in document.findings.all():
            writer.writerow([document.name, "finding", f.final_category, f.status, f"{f.score:.4f}", "", f.page, f.start, f.end, f.text])
        for t in document.key_terms.all():
            writer.writerow([document.name, "key_term", t.kind, "", "", t.value, document.page_of(t.start), t.start, t.end, t.text])
        for r in document.playbook_results.all():
            evidence = r.evidence[0] if r.evidence else {}
            writer.writerow([document.name, "playbook", r.rule.get("label", r.rule.get("kind")), r.status, "", r.message,
                             document.page_of(evidence["start"]) if evidence else "", evidence.get("start", ""),
                             evidence.get("end", ""), evidence.get("text", "")])
    return buffer.getvalue()
