"""The inspection job: read every image safely, predict in batches, decide, save rows in bulk.

Each image found in the job's files (single images or inside ZIP archives) becomes exactly
one InspectionResult, in input order: decision, class, score, heat map and boxes, or the
readable reason it could not be inspected. Parts in the review band also enter the review queue.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from quorum.jobs.runner import JobContext, JobFailed
from solutions.defects import services
from solutions.defects.datasets import CLASSES
from solutions.defects.imaging import IntakeItem, display_copy, read_upload, to_model_array
from solutions.defects.inference import Inspector, served_inspector
from solutions.defects.maps import boxes_from_map, map_to_png, upsample_map
from solutions.defects.models import Decision, InspectionPolicy, InspectionResult, ReviewItem
from solutions.defects.threshold import decide

BATCH_SIZE = 32


@dataclass
class Totals:
    images: int = 0
    errors: int = 0
    decisions: Counter = field(default_factory=Counter)
    failed_by_class: Counter = field(default_factory=Counter)


class Inspection:
    """Turns intake items into saved result rows for one job, a batch at a time."""

    def __init__(self, ctx: JobContext, inspector: Inspector, policy: InspectionPolicy) -> None:
        self.ctx = ctx
        self.inspector = inspector
        self.policy = policy
        self.totals = Totals()
        self.index = 0

    def _common(self, item: IntakeItem) -> dict[str, Any]:
        row = {"tenant": self.ctx.tenant, "job": self.ctx.job, "index": self.index, "filename": item.filename[:500]}
        self.index += 1
        return row

    def save(self, items: list[IntakeItem]) -> None:
        good = [item for item in items if item.ok]
        predictions = self.inspector.predict(
            np.stack([to_model_array(item.image, self.inspector.image_size) for item in good])
        ) if good else None
        defect_classes = predictions.defect_classes() if predictions else []
        top_classes = predictions.top_classes() if predictions else []
        rows, reviews, position = [], [], 0
        for item in items:
            common = self._common(item)
            if not item.ok:
                rows.append(InspectionResult(**common, status=InspectionResult.Status.ERROR, error=item.error))
                self.totals.errors += 1
                continue
            row = self._inspected(common, item, predictions, position, defect_classes[position], top_classes[position])
            position += 1
            rows.append(row)
            if row.decision == Decision.REVIEW:
                reviews.append(ReviewItem(tenant=self.ctx.tenant, result=row))
        InspectionResult.objects.bulk_create(rows)
        ReviewItem.objects.bulk_create(reviews)
        self.totals.images += len(items)

    def _inspected(
        self, common: dict, item: IntakeItem, predictions: Any, position: int, defect_class: str, top_class: str
    ) -> InspectionResult:
        width, height = item.image.size
        score = float(predictions.defect_scores[position])
        threshold = float(self.policy.thresholds.get(defect_class, self.policy.default_threshold))
        decision = decide(score, threshold, self.policy.review_margin)
        patch_map = predictions.patch_maps[position]
        boxes = (
            boxes_from_map(upsample_map(patch_map, width, height), self.inspector.box_threshold)
            if decision != Decision.PASS else []
        )
        prefix = f"tenants/{self.ctx.tenant.pk}/defects/{self.ctx.job.pk}/{common['index']:06d}"
        heatmap_key = default_storage.save(f"{prefix}-map.png", ContentFile(map_to_png(patch_map)))
        part = display_copy(item.image)
        buffer = io.BytesIO()
        part.save(buffer, "PNG", compress_level=3)
        part_key = default_storage.save(f"{prefix}-part.png", ContentFile(buffer.getvalue()))
        self.totals.decisions[decision] += 1
        if decision == Decision.FAIL:
            self.totals.failed_by_class[defect_class] += 1
        return InspectionResult(
            **common, status=InspectionResult.Status.OK, width=width, height=height,
            decision=decision, defect_class=defect_class, top_class=top_class,
            class_probs={c: round(float(p), 5) for c, p in zip(CLASSES, predictions.class_probs[position], strict=True)},
            defect_score=score, threshold=threshold,
            boxes=[[round(v, 1) for v in box[:4]] + [round(box[4], 4)] for box in boxes],
            heatmap=heatmap_key, part_image=part_key,
        )


def run(ctx: JobContext) -> dict[str, Any]:
    """Inspect every image of the job's files; returns the batch's summary."""
    if not ctx.files:
        raise JobFailed("The job has no input file: upload PNG, JPEG, BMP or TIFF images or a ZIP of them.")
    model_dir = services.model_dir()
    if not (model_dir / "config.json").is_file():
        raise JobFailed(f"The inspection model is not installed ({model_dir}); run train_base defects.")
    adapter = ctx.adapter
    inspector = served_inspector(
        model_dir, None if adapter is None else str(getattr(adapter, "pk", adapter)),
        max_batch_size=settings.QUORUM_BATCH_MAX_SIZE, max_wait_ms=settings.QUORUM_BATCH_MAX_WAIT_MS,
    )
    policy = services.current_policy()
    inspection = Inspection(ctx, inspector, policy)
    ctx.progress(0, "reading images")
    total_bytes = max(sum(f.size for f in ctx.files), 1)
    done_bytes = 0
    for job_file in ctx.files:
        batch: list[IntakeItem] = []
        with ctx.open_file(job_file) as stream:
            for item in read_upload(stream, job_file.name):
                batch.append(item)
                if len(batch) >= BATCH_SIZE:
                    inspection.save(batch)
                    batch = []
                    ctx.progress(min(99.0, 100 * done_bytes / total_bytes + 1), f"{inspection.index:,} images inspected")
            if batch:
                inspection.save(batch)
        done_bytes += job_file.size
        ctx.progress(min(99.0, 100 * done_bytes / total_bytes), f"{inspection.index:,} images inspected")
    totals = inspection.totals
    ctx.progress(100, f"{totals.images:,} images inspected")
    return {
        "images": totals.images, "errors": totals.errors,
        "pass": totals.decisions[Decision.PASS], "fail": totals.decisions[Decision.FAIL],
        "review": totals.decisions[Decision.REVIEW], "failed_by_class": dict(totals.failed_by_class),
        "target_false_reject_rate": policy.target_false_reject_rate,
    }


def clear_results(job: Any) -> None:
    """Delete a job's rows and their stored PNGs (the runner calls this before each attempt)."""
    results = InspectionResult.objects.filter(job=job)
    for heatmap, part in results.values_list("heatmap", "part_image"):
        for key in (heatmap, part):
            if key:
                default_storage.delete(key)
    results.delete()
