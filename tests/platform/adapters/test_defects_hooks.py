"""Defect inspection's adapter hooks: a ZIP of part images with labels.csv, and training on it."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from quorum.adapters import services
from quorum.jobs.models import JobStatus
from tests.fixtures.workers import run_job_now


def png(seed: int, scratched: bool) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 130, size=(64, 64), dtype=np.uint8)
    if scratched:
        pixels[:, 30:33] = 250
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def parts_zip(count: int, extra_labels: str = "", extra_files: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    lines = ["filename,label"]
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            archive.writestr(f"parts/part{i}.png", png(i, scratched=i % 2 == 0))
            lines.append(f"part{i}.png,{'scratches' if i % 2 == 0 else 'free'}")
        for name, data in (extra_files or {}).items():
            archive.writestr(name, data)
        archive.writestr("labels.csv", "\n".join(lines) + "\n" + extra_labels)
    return buffer.getvalue()


@pytest.fixture
def defects_hooks():
    try:
        return services.hooks_for("defects")
    except services.AdapterRefused:
        pytest.skip("defect inspection is not installed in this run")


def test_images_are_accepted_or_rejected_with_reasons(defects_hooks):
    data = parts_zip(6, extra_labels="odd.png,dent\n",
                     extra_files={"odd.png": png(99, False), "unlisted.png": png(98, False), "bad.png": b"not an image"})
    report = defects_hooks.parse_dataset("inspector", "parts.zip", data)
    assert len(report.rows) == 6 and report.label_counts == {"free": 3, "scratches": 3}
    reasons = " | ".join(r["reason"] for r in report.rejected)
    assert "unknown class 'dent'" in reasons and "unlisted.png has no line" in reasons and "bad.png" in reasons
    assert "labels.csv" in defects_hooks.parse_dataset("inspector", "p.zip", b"PK\x05\x06" + b"\0" * 18).rejected[0]["reason"]


def test_a_training_job_on_a_plants_parts(
    defects_hooks, tenant_a, admin_a, django_capture_on_commit_callbacks, in_process_jobs
):
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="defects", base_model="inspector",
                                      name="line 3", filename="parts.zip", data=parts_zip(12))
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_training(tenant=tenant_a, user=admin_a, dataset=dataset, options={"epochs": 1})
    job = run_job_now(run.job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert {"base_accuracy", "adapter_accuracy"} <= set(job.result_summary)
