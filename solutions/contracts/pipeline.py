"""The contract review pipeline: every uploaded file extracted, segmented, tagged by the clause
model, read for key terms and checked against the tenant's playbook.

A file that cannot be read becomes an error document with the reason; the others still run.
"""

from typing import Any

from quorum.jobs.runner import JobFailed
from solutions.contracts import services
from solutions.contracts.extraction import UnreadableDocument, extract


def run(ctx: Any) -> dict[str, Any]:
    try:
        classifier = services.get_classifier()
    except LookupError as exc:
        raise JobFailed(f"The clause model is not installed ({exc}).") from None
    if not ctx.files:
        raise JobFailed("The job has no contract: upload a PDF, DOCX, TXT or HTML file.")
    rules = services.rules_for(ctx.tenant)
    adapter_id = services.adapter_id_for(ctx.adapter)
    documents, errors, findings, pages = 0, 0, 0, 0
    risks: dict[str, int] = {}
    for index, job_file in enumerate(ctx.files):
        share = 95 / len(ctx.files)
        ctx.progress(2 + share * index, f"Reading {job_file.name}")
        with ctx.open_file(job_file) as binary:
            data = binary.read()
        try:
            document = extract(job_file.name, data)
        except UnreadableDocument as exc:
            services.save_document(job=ctx.job, index=index, name=job_file.name, document=None, error=str(exc))
            errors += 1
            continue
        ctx.progress(2 + share * (index + 0.3), f"Analysing {job_file.name} ({document.page_count} pages)")
        result = services.analysis(document, classifier, rules, adapter_id)
        services.save_document(job=ctx.job, index=index, name=job_file.name, document=document, result=result)
        documents += 1
        findings += len(result["findings"])
        pages += document.page_count
        risks[result["risk"]] = risks.get(result["risk"], 0) + 1
    if not documents:
        raise JobFailed("No file could be read: " + "; ".join(
            d.error for d in ctx.job.contract_documents.all()))
    return {"adapter_version": adapter_id, "documents": documents, "errors": errors, "pages": pages, "findings": findings, "risk": risks}
