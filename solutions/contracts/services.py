"""Every way the contract rows change: analyse a document, review a finding, save the playbook.

The pipeline, the API and the pages call these functions; each state change writes its audit
event. The clause model is loaded once per process.
"""

import functools
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from quorum.audit.services import record
from solutions.contracts import keyterms, playbook
from solutions.contracts.classifier import ClauseClassifier
from solutions.contracts.extraction import ExtractedDocument
from solutions.contracts.models import (
    ContractDocument,
    DocumentStatus,
    Finding,
    FindingStatus,
    KeyTerm,
    Playbook,
    PlaybookResult,
)
from solutions.contracts.segmentation import segment
from solutions.contracts.training import MODEL_NAME

SOLUTION = "contracts"


def model_dir() -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / SOLUTION / MODEL_NAME


@functools.cache
def _load_classifier(directory: str) -> ClauseClassifier:
    from engine.serving import get_server
    from quorum.adapters.storage import resolve_adapter

    classifier = ClauseClassifier.load(directory)
    classifier.server = get_server(directory, max_batch_size=settings.QUORUM_BATCH_MAX_SIZE,
                                   max_wait_ms=settings.QUORUM_BATCH_MAX_WAIT_MS, adapter_resolver=resolve_adapter)
    return classifier


def adapter_id_for(adapter: Any) -> str | None:
    """The version id to serve a tenant adapter (an AdapterVersion or None) with, if it adapts
    the clause model."""
    if adapter is None or getattr(adapter, "base_model", MODEL_NAME) != MODEL_NAME:
        return None
    return str(adapter.pk)


def get_classifier() -> ClauseClassifier:
    """The installed clause model (LookupError when none is installed)."""
    directory = model_dir()
    if not (directory / "config.json").is_file():
        raise LookupError(f"no clause model under {directory}")
    return _load_classifier(str(directory))


def rules_for(tenant: Any) -> list[dict]:
    """The tenant's playbook rules, or the shipped default playbook."""
    saved = Playbook.objects.filter(tenant=tenant).first()
    return saved.rules if saved else playbook.default_rules_copy()


def save_playbook(*, tenant: Any, user: Any, rules: list[dict], request: Any = None) -> Playbook:
    playbook.validate_rules(rules)
    with transaction.atomic():
        saved, _ = Playbook.objects.update_or_create(tenant=tenant, defaults={"rules": rules, "updated_by": user})
        record(tenant=tenant, actor=user, action="contracts.playbook.update", obj=saved, request=request,
               detail={"rules": len(rules)})
    return saved


def analysis(document: ExtractedDocument, classifier: ClauseClassifier, rules: list[dict],
             adapter_id: str | None = None) -> dict[str, Any]:
    """Segments, findings above the model's threshold, key terms and playbook results of a text."""
    text = document.text
    sentences = segment(text).sentences
    spans = [(s.start, s.end) for s in sentences]
    scores = classifier.scores([s.text for s in sentences], adapter_id) if sentences else None
    findings = []
    for row, sentence in enumerate(sentences):
        for column, category in enumerate(classifier.categories):
            score = float(scores[row, column])
            if score >= classifier.threshold:
                findings.append({"category": category, "score": score, "start": sentence.start, "end": sentence.end,
                                 "text": sentence.text})
    terms = [t.to_dict() for t in keyterms.extract_key_terms(text, spans)]
    results = playbook.check(rules, findings, terms)
    return {"spans": spans, "findings": findings, "key_terms": terms, "playbook": results,
            "risk": playbook.risk_level(results)}


def save_document(*, job: Any, index: int, name: str, document: ExtractedDocument | None, error: str = "",
                  result: dict[str, Any] | None = None) -> ContractDocument:
    """Store one analysed document (or the reason it could not be read) with all its rows."""
    with transaction.atomic():
        row = ContractDocument.objects.create(
            tenant_id=job.tenant_id, job=job, index=index, name=name[:255],
            kind=document.kind if document else "", status=DocumentStatus.ERROR if error else DocumentStatus.ANALYSED,
            error=error, text=document.text if document else "", pages=[list(p) for p in document.pages] if document else [],
            segments=[list(s) for s in result["spans"]] if result else [], risk=result["risk"] if result else "",
        )
        if result:
            Finding.objects.bulk_create(
                Finding(tenant_id=job.tenant_id, document=row, page=document.page_of(f["start"]), **f) for f in result["findings"]
            )
            KeyTerm.objects.bulk_create(
                KeyTerm(tenant_id=job.tenant_id, document=row, position=i, **t) for i, t in enumerate(result["key_terms"])
            )
            PlaybookResult.objects.bulk_create(
                PlaybookResult(tenant_id=job.tenant_id, document=row, position=r.index, rule=r.rule, status=r.status,
                               message=r.message, evidence=[vars(e) for e in r.evidence])
                for r in result["playbook"]
            )
    return row


def clear_results(job: Any) -> None:
    """Delete a job's documents (findings, key terms and results go with them) before a rerun."""
    ContractDocument.objects.filter(job=job).delete()


def review_finding(*, finding: Finding, user: Any, status: str, category: str = "", request: Any = None) -> Finding:
    """Accept, reject or relabel a finding; a relabel also accepts it under the new category."""
    if status not in FindingStatus.values:
        raise ValueError(f"status must be one of {', '.join(FindingStatus.values)}")
    with transaction.atomic():
        finding.status = status
        finding.relabelled_category = category if category and category != finding.category else ""
        finding.reviewed_by = user if getattr(user, "is_authenticated", False) else None
        finding.reviewed_at = timezone.now()
        finding.save(update_fields=["status", "relabelled_category", "reviewed_by", "reviewed_at"])
        record(tenant=finding.tenant, actor=user, action="contracts.finding.review", obj=finding, request=request,
               detail={"status": status, "category": finding.final_category})
    return finding


def get_categories() -> list[str]:
    """The clause categories the installed model knows (the CUAD 41)."""
    try:
        return get_classifier().categories
    except LookupError:
        return []
