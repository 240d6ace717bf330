"""Every way the loan rows change, and the process-wide cache of loaded scoring models.

Views, API views and the batch pipeline call these functions; none of them writes a loan row
directly.
"""

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from quorum.audit.services import record
from solutions.loans.models import ApplicationStatus, LoanPolicy, Outcome, ScoredApplication
from solutions.loans.scoring import LoanScorer, PolicySettings, Score

# An optional column/key that carries the lender's own reference; it is kept, never scored.
REFERENCE_FIELD = "application_id"
SCORE_CHUNK = 256  # applications per forward pass


def models_dir() -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / "loans"


@functools.cache
def _load_scorer(directory: str) -> LoanScorer:
    from engine.serving import get_server
    from quorum.adapters.storage import resolve_adapter

    scorer = LoanScorer.load(directory)
    scorer.server = get_server(directory, max_batch_size=settings.QUORUM_BATCH_MAX_SIZE,
                               max_wait_ms=settings.QUORUM_BATCH_MAX_WAIT_MS, adapter_resolver=resolve_adapter)
    return scorer


def get_scorer(model_name: str) -> LoanScorer:
    """The base model `model_name` ("german", "taiwan"), loaded once per process."""
    directory = models_dir() / model_name
    if not (directory / "config.json").is_file():
        raise LookupError(f"no loan model {model_name!r} under {models_dir()}")
    return _load_scorer(str(directory))


def adapter_id_for(adapter: Any, model_name: str) -> str | None:
    """The version id to serve `adapter` (an AdapterVersion or None) with, if it adapts `model_name`."""
    if adapter is None or getattr(adapter, "base_model", model_name) != model_name:
        return None
    return str(adapter.pk)


def policy_for(tenant: Any) -> PolicySettings:
    """The tenant's policy, or the defaults when the tenant has not saved one."""
    policy = LoanPolicy.objects.filter(tenant=tenant).first()
    return policy.settings() if policy else PolicySettings()


def save_policy(*, tenant: Any, user: Any, values: dict[str, Any], request: Any = None) -> LoanPolicy:
    """Create or update the tenant's policy (values already validated by the form)."""
    PolicySettings(**values)  # refuses inconsistent cut-offs or bands
    with transaction.atomic():
        policy, _ = LoanPolicy.objects.update_or_create(tenant=tenant, defaults={**values, "updated_by": user})
        record(tenant=tenant, actor=user, action="loans.policy.update", obj=policy, request=request, detail=values)
    return policy


def split_reference(application: Any) -> tuple[Any, str]:
    """The application without its reference column, and the reference (or "")."""
    if isinstance(application, dict) and REFERENCE_FIELD in application:
        rest = {k: v for k, v in application.items() if k != REFERENCE_FIELD}
        return rest, str(application[REFERENCE_FIELD])
    return application, ""


def score_rows(scorer: LoanScorer, policy: PolicySettings, applications: list[Any],
               adapter_id: str | None = None) -> list[tuple[dict[str, list[str]], Score | None]]:
    """Validate and score applications; each gets (errors, score) with exactly one of them set."""
    results: list[tuple[dict[str, list[str]], Score | None]] = []
    clean_rows, positions = [], []
    for application in applications:
        clean, errors = scorer.schema.validate(split_reference(application)[0])
        results.append((errors, None))
        if not errors:
            clean_rows.append(clean)
            positions.append(len(results) - 1)
    for start in range(0, len(clean_rows), SCORE_CHUNK):
        chunk = scorer.score(clean_rows[start : start + SCORE_CHUNK], policy, adapter_id)
        for position, score in zip(positions[start : start + SCORE_CHUNK], chunk, strict=True):
            results[position] = ({}, score)
    return results


def result_row(*, job: Any, index: int, model_name: str, application: Any, errors: dict[str, list[str]], score: Score | None) -> ScoredApplication:
    """An unsaved result row for one input application (scored or an error row)."""
    row = ScoredApplication(tenant_id=job.tenant_id, job=job, index=index, model_name=model_name, input=application)
    if score is None:
        row.status, row.errors = ApplicationStatus.ERROR, errors
        return row
    row.status = ApplicationStatus.SCORED
    row.pd, row.score, row.grade, row.decision = score.pd, score.score, score.grade, score.decision
    row.reasons = [vars(reason) for reason in score.reasons]
    row.policy_rules = score.policy_rules
    return row


def clear_results(job: Any) -> None:
    """Delete a job's rows before a (re)run so a redelivered job never duplicates them."""
    ScoredApplication.objects.filter(job=job).delete()


def record_outcomes(*, tenant: Any, user: Any, outcomes: Iterable[tuple[int, bool]], request: Any = None) -> tuple[int, list[str]]:
    """Save (application id, defaulted) pairs of this tenant; returns (saved, errors per line)."""
    saved, errors = 0, []
    with transaction.atomic():
        for line, (application_id, defaulted) in enumerate(outcomes, start=1):
            application = ScoredApplication.objects.filter(pk=application_id, status=ApplicationStatus.SCORED).first()
            if application is None:
                errors.append(f"line {line}: no scored application {application_id} in this workspace")
                continue
            Outcome.objects.update_or_create(tenant=tenant, application=application, defaults={"defaulted": defaulted, "uploaded_by": user})
            saved += 1
        record(tenant=tenant, actor=user, action="loans.outcomes.upload", request=request, detail={"saved": saved, "errors": len(errors)})
    return saved, errors
