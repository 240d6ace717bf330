"""Objects of defect inspection for tests outside this folder (the platform's URL walk)."""

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from quorum.jobs.models import Job
from solutions.defects.maps import map_to_png
from solutions.defects.models import InspectionResult


def one_inspection_result(job: Job) -> None:
    """Give a succeeded defects job one inspected image (index 0) with its stored pictures."""
    prefix = f"tenants/{job.tenant_id}/defects/{job.pk}/000000"
    part = io.BytesIO()
    Image.new("L", (64, 64), 128).save(part, "PNG")
    InspectionResult.objects.create(
        tenant_id=job.tenant_id, job=job, index=0, filename=f"part-{job.pk}.png", status="ok",
        width=64, height=64, decision="fail", defect_class="crack", top_class="crack",
        class_probs={"crack": 1.0}, defect_score=0.9, threshold=0.5, boxes=[[8, 8, 24, 24, 0.9]],
        heatmap=default_storage.save(f"{prefix}-map.png", ContentFile(map_to_png(np.eye(8, dtype=np.float32)))),
        part_image=default_storage.save(f"{prefix}-part.png", ContentFile(part.getvalue())),
    )
