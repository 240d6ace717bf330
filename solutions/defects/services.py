"""Every change to defect inspection state: start a job, save the policy, review a result.

Views, the API and the pipeline call these functions; each writes its audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from quorum.audit.services import record
from quorum.jobs.models import Job
from quorum.jobs.services import create_job
from solutions.defects.datasets import CLASSES, DEFECT_CLASSES, GOOD_CLASS
from solutions.defects.inference import MODEL_NAME, read_validation
from solutions.defects.models import Decision, InspectionPolicy, InspectionResult, ReviewItem
from solutions.defects.threshold import ThresholdChoice, choose_thresholds

SOLUTION = "defects"
DEFAULT_TARGET_FALSE_REJECT_RATE = 0.05
DEFAULT_REVIEW_MARGIN = 0.1


def model_dir() -> Path:
    return Path(settings.QUORUM_MODELS_DIR) / SOLUTION / MODEL_NAME


def start_inspection(
    *, tenant: Any, user: Any, files: Sequence[UploadedFile], api_key: Any = None,
    request: HttpRequest | None = None,
) -> Job:
    """Create and enqueue an inspection job over image files and ZIP archives.

    Raises quorum.jobs.services.UploadRejected for a file the platform refuses outright.
    """
    return create_job(
        tenant=tenant, user=user, solution=SOLUTION, files=list(files), params={},
        api_key=api_key, request=request,
    )


def inspection_job(job_id: Any) -> Job:
    """The active tenant's inspection job, or 404 (another tenant's job does not exist here)."""
    return get_object_or_404(Job.objects.filter(solution=SOLUTION), pk=job_id)


def preview_thresholds(target_false_reject_rate: float, validation: dict | None = None) -> ThresholdChoice:
    """Thresholds for a target on the shipped model's validation split, and their rates."""
    validation = validation if validation is not None else read_validation(model_dir())
    return choose_thresholds(
        np.asarray(validation["defect_scores"]), validation["defect_classes"],
        np.asarray(validation["is_defective"]), DEFECT_CLASSES, target_false_reject_rate,
    )


def current_policy() -> InspectionPolicy:
    """The active tenant's policy; an unsaved default (5 % target) if the admin set none."""
    policy = InspectionPolicy.objects.first()
    if policy is not None:
        return policy
    try:
        choice = preview_thresholds(DEFAULT_TARGET_FALSE_REJECT_RATE)
    except FileNotFoundError:
        # No model installed yet: jobs fail with their own message; pages show this neutral policy.
        return InspectionPolicy(review_margin=DEFAULT_REVIEW_MARGIN)
    return InspectionPolicy(
        target_false_reject_rate=choice.target_false_reject_rate, thresholds=choice.thresholds,
        default_threshold=choice.default_threshold, review_margin=DEFAULT_REVIEW_MARGIN,
        false_reject_rate=choice.false_reject_rate, escape_rate=choice.escape_rate,
    )


def save_policy(
    *, tenant: Any, user: Any, target_false_reject_rate: float, review_margin: float,
    request: HttpRequest | None = None,
) -> InspectionPolicy:
    """Choose thresholds for the target on the validation split and make them the tenant's."""
    choice = preview_thresholds(target_false_reject_rate)
    with transaction.atomic():
        policy, _ = InspectionPolicy.objects.update_or_create(
            tenant=tenant,
            defaults={
                "target_false_reject_rate": target_false_reject_rate,
                "thresholds": choice.thresholds, "default_threshold": choice.default_threshold,
                "review_margin": review_margin, "false_reject_rate": choice.false_reject_rate,
                "escape_rate": choice.escape_rate, "updated_by": user if user.is_authenticated else None,
            },
        )
        record(tenant=tenant, actor=user, action="defects.policy.save", obj=policy, request=request,
               detail={"target_false_reject_rate": target_false_reject_rate, "review_margin": review_margin})
    return policy


def review_result(
    *, result: InspectionResult, user: Any, decision: str, defect_class: str, note: str = "",
    request: HttpRequest | None = None,
) -> ReviewItem:
    """Record an engineer's verdict on a result: confirmed if it agrees with the model, else corrected.

    The verdict is labelled data: `labelled_examples` lists them for adapter training.
    """
    if decision not in (Decision.PASS, Decision.FAIL):
        raise ValueError("a reviewed part passes or fails")
    if defect_class not in CLASSES:
        raise ValueError(f"unknown defect class {defect_class!r}")
    if decision == Decision.PASS:
        defect_class = GOOD_CLASS
    elif defect_class == GOOD_CLASS:
        raise ValueError("a failed part needs its defect class")
    agrees = decision == result.decision and (decision == Decision.PASS or defect_class == result.defect_class)
    with transaction.atomic():
        item, _ = ReviewItem.objects.update_or_create(
            tenant_id=result.tenant_id, result=result,
            defaults={
                "status": ReviewItem.Status.CONFIRMED if agrees else ReviewItem.Status.CORRECTED,
                "decision": decision, "defect_class": defect_class, "note": note,
                "reviewed_by": user if user.is_authenticated else None, "reviewed_at": timezone.now(),
            },
        )
        record(tenant=result.tenant, actor=user, action="defects.review", obj=item, request=request,
               detail={"result": result.pk, "decision": decision, "defect_class": defect_class,
                       "status": item.status})
    return item


def labelled_examples() -> list[dict]:
    """The active tenant's reviewed parts as labelled data: image key, class and decision."""
    reviewed = ReviewItem.objects.exclude(status=ReviewItem.Status.PENDING).select_related("result")
    return [
        {"result": item.result_id, "image": item.result.part_image.name, "label": item.defect_class,
         "decision": item.decision, "status": item.status}
        for item in reviewed
    ]
