"""An inspection job end to end in-process: sample images and hostile files through the runner."""

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import JobStatus
from quorum.tenancy.scoping import tenant_scope
from solutions.defects.models import InspectionPolicy, InspectionResult, ReviewItem
from solutions.defects.pipeline import clear_results
from solutions.defects.services import start_inspection

from .conftest import SAMPLES


def sample_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("line-3/part-02.png", (SAMPLES / "part-02-scratches.png").read_bytes())
        archive.writestr("../../etc/escape.png", (SAMPLES / "part-01-clean.png").read_bytes())
        archive.writestr("bomb.bmp", b"\0" * (3 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.fixture
def inspect(run_in_process, tiny_model):
    """inspect(tenant, user, [(name, bytes)]) -> (finished job, its rows in input order)."""

    def run(tenant, user, files):
        with tenant_scope(tenant):
            job = start_inspection(tenant=tenant, user=user, files=[SimpleUploadedFile(n, b) for n, b in files])
        run_in_process(job)
        with tenant_scope(tenant):
            rows = list(InspectionResult.objects.filter(job=job).order_by("index"))
        return job, rows

    return run


def test_samples_and_hostile_files_each_get_one_row_in_order(inspect, tenant_a, analyst_a):
    samples = sorted(SAMPLES.glob("part-*"))
    truncated = (SAMPLES / "part-02-scratches.png").read_bytes()[:3000]
    files = [(p.name, p.read_bytes()) for p in samples] + [
        ("cut.png", truncated), ("notes.png", b"not an image at all"), ("batch.zip", sample_zip()),
    ]
    job, rows = inspect(tenant_a, analyst_a, files)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert [r.index for r in rows] == list(range(len(samples) + 5))
    by_name = {r.filename: r for r in rows}
    assert all(by_name[p.name].status == "ok" for p in samples)
    assert "truncated" in by_name["cut.png"].error
    assert by_name["notes.png"].error == "not a PNG, JPEG, BMP or TIFF image"
    assert by_name["batch.zip/line-3/part-02.png"].status == "ok"
    assert by_name["batch.zip/../../etc/escape.png"].error == "refused: path escapes the archive"
    assert "ZIP bomb" in by_name["batch.zip/bomb.bmp"].error
    inspected = [r for r in rows if r.status == "ok"]
    for row in inspected:
        assert row.decision in ("pass", "fail", "review")
        assert sum(row.class_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert 0.0 <= row.defect_score <= 1.0 and row.threshold is not None
        assert default_storage.exists(row.heatmap.name) and default_storage.exists(row.part_image.name)
        assert row.heatmap.name.startswith(f"tenants/{tenant_a.pk}/defects/{job.pk}/")
    summary = job.result_summary
    assert summary["images"] == len(rows) and summary["errors"] == 4
    assert summary["pass"] + summary["fail"] + summary["review"] == len(inspected)


def test_parts_in_the_review_band_enter_the_review_queue(inspect, tenant_a, analyst_a):
    with tenant_scope(tenant_a):
        # Every threshold above any score, with a band reaching down to zero: all go to review.
        InspectionPolicy.objects.create(tenant=tenant_a, thresholds={}, default_threshold=1.01, review_margin=1.02)
    job, rows = inspect(tenant_a, analyst_a, [("a.png", (SAMPLES / "part-01-clean.png").read_bytes()),
                                              ("b.jpg", (SAMPLES / "part-03-pits.jpg").read_bytes())])
    assert [r.decision for r in rows] == ["review", "review"]
    with tenant_scope(tenant_a):
        assert ReviewItem.objects.filter(status="pending", result__job=job).count() == 2


def test_clearing_results_removes_rows_and_stored_pictures(inspect, tenant_a, analyst_a):
    job, rows = inspect(tenant_a, analyst_a, [("a.png", (SAMPLES / "part-01-clean.png").read_bytes())])
    keys = [rows[0].heatmap.name, rows[0].part_image.name]
    with tenant_scope(tenant_a):
        clear_results(job)
        assert not InspectionResult.objects.filter(job=job).exists()
    assert not any(default_storage.exists(key) for key in keys)
