"""Monitoring reports over a tenant's stored applications (the database side of monitoring.py)."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from solutions.loans.models import ApplicationStatus, Outcome, ScoredApplication
from solutions.loans.monitoring import calibration_report, fairness_report, stability_report
from solutions.loans.scoring import LoanScorer
from solutions.loans.services import split_reference

DEFAULT_WINDOW_DAYS = 30
MAX_ROWS = 50_000  # the most recent applications a report reads


def recent_applications(model_name: str, days: int) -> list[ScoredApplication]:
    since = timezone.now() - timedelta(days=days)
    rows = (ScoredApplication.objects.filter(model_name=model_name, status=ApplicationStatus.SCORED, created_at__gte=since)
            .order_by("-created_at")[:MAX_ROWS])
    return list(rows)


def monitoring_report(scorer: LoanScorer, model_name: str, days: int) -> dict[str, Any]:
    """PSI (per feature and of the PD), calibration where outcomes exist, and fairness."""
    applications = recent_applications(model_name, days)
    clean_rows = [scorer.schema.validate(split_reference(a.input)[0])[0] for a in applications]
    report: dict[str, Any] = {"model": model_name, "window_days": days, "applications": len(applications)}
    if applications and scorer.reference is not None:
        report["stability"] = stability_report(scorer.reference, scorer.schema, clean_rows, [a.pd for a in applications])
    outcomes = dict(Outcome.objects.filter(application__in=[a.pk for a in applications]).values_list("application_id", "defaulted"))
    with_outcome = [a for a in applications if a.pk in outcomes]
    report["calibration"] = calibration_report([a.pd for a in with_outcome], [outcomes[a.pk] for a in with_outcome])
    report["fairness"] = fairness_report(scorer.schema, clean_rows, [a.decision for a in applications])
    return report
