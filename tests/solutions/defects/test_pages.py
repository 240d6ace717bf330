"""The browser pages: upload, results grid with overlays and statistics, review form and queue,
the threshold preview (everyone) and save (tenant admins), and isolation between tenants."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job
from quorum.tenancy.scoping import tenant_scope
from solutions.defects.datasets import DEFECT_CLASSES
from solutions.defects.models import InspectionPolicy, ReviewItem
from solutions.defects.services import start_inspection

from .conftest import SAMPLES


@pytest.fixture
def finished_job(tenant_a, analyst_a, tiny_model, run_in_process):
    with tenant_scope(tenant_a):
        InspectionPolicy.objects.create(tenant=tenant_a, thresholds={}, default_threshold=1.01, review_margin=1.02)
        job = start_inspection(tenant=tenant_a, user=analyst_a, files=[
            SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("part-0[1-3]*"))
        ])
    return run_in_process(job)


def test_upload_page_starts_a_job(analyst_a_client, tenant_a, tiny_model):
    page = analyst_a_client.get("/defects/")
    assert page.status_code == 200 and b"Inspect images" in page.content
    response = analyst_a_client.post("/defects/", {"files": [
        SimpleUploadedFile("a.png", (SAMPLES / "part-01-clean.png").read_bytes()),
        SimpleUploadedFile("b.jpg", (SAMPLES / "part-03-pits.jpg").read_bytes()),
    ]})
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        job = Job.objects.get(solution="defects")
        assert sorted(f.name for f in job.files.all()) == ["a.png", "b.jpg"]


def test_results_grid_shows_overlays_statistics_and_filters(analyst_a_client, finished_job):
    page = analyst_a_client.get(f"/defects/jobs/{finished_job.pk}/")
    assert page.status_code == 200
    assert page.content.count(b"/overlay.png") == 3
    assert b"part-02-scratches.png" in page.content and b"Defect rate by class" in page.content
    filtered = analyst_a_client.get(f"/defects/jobs/{finished_job.pk}/", {"decision": "pass"})
    assert filtered.content.count(b"/overlay.png") == 0
    overlay = analyst_a_client.get(f"/defects/jobs/{finished_job.pk}/images/0/overlay.png")
    assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")


def test_engineer_confirms_from_the_review_queue(analyst_a_client, finished_job, tenant_a):
    queue = analyst_a_client.get("/defects/review/")
    assert queue.content.count(b"/overlay.png") == 3
    response = analyst_a_client.post(f"/defects/jobs/{finished_job.pk}/images/1/", {
        "decision": "pass", "defect_class": "free", "note": "", "next": "queue",
    })
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        item = ReviewItem.objects.get(result__index=1, result__job=finished_job)
        assert (item.status, item.decision, item.defect_class) == ("corrected", "pass", "free")
        assert ReviewItem.objects.filter(status="pending").count() == 2


def test_threshold_preview_shows_rates_and_only_admins_save(analyst_a_client, admin_a_client, tenant_a, tiny_model):
    preview = analyst_a_client.post("/defects/thresholds/", {"target_percent": "2", "review_margin": "0.1", "action": "preview"})
    assert preview.status_code == 200
    assert b"escape rate" in preview.content and b"Preview: target 0.02" in preview.content
    refused = analyst_a_client.post("/defects/thresholds/", {"target_percent": "2", "review_margin": "0.1", "action": "save"})
    assert refused.status_code == 403
    saved = admin_a_client.post("/defects/thresholds/", {"target_percent": "2", "review_margin": "0.1", "action": "save"})
    assert saved.status_code == 302
    with tenant_scope(tenant_a):
        policy = InspectionPolicy.objects.get()
    assert policy.target_false_reject_rate == 0.02 and policy.false_reject_rate <= 0.02
    assert set(policy.thresholds) == set(DEFECT_CLASSES)


@pytest.mark.parametrize("path", ["", "images/0/", "images/0/overlay.png"])
def test_another_tenants_pages_answer_404(analyst_b_client, finished_job, path):
    assert analyst_b_client.get(f"/defects/jobs/{finished_job.pk}/{path}").status_code == 404


def test_review_queue_shows_only_the_own_tenants_items(analyst_b_client, finished_job):
    assert b"part-0" not in analyst_b_client.get("/defects/review/").content
