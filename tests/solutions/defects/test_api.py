"""The inspection API: multipart and raw-bytes jobs, JSON per image, overlay PNG, reviews,
and another tenant's job answering 404 everywhere."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from quorum.jobs.models import Job
from quorum.tenancy.scoping import tenant_scope
from solutions.defects.models import ReviewItem
from solutions.defects.services import labelled_examples, start_inspection

from .conftest import SAMPLES

SAMPLE = SAMPLES / "part-02-scratches.png"


@pytest.fixture
def finished_job(tenant_a, analyst_a, tiny_model, run_in_process):
    with tenant_scope(tenant_a):
        job = start_inspection(tenant=tenant_a, user=analyst_a, files=[
            SimpleUploadedFile("a.png", SAMPLE.read_bytes()),
            SimpleUploadedFile("b.png", b"plain text"),
        ])
    return run_in_process(job)


def test_multipart_upload_creates_a_job(api_client_a, tenant_a, tiny_model):
    response = api_client_a.post("/api/v1/defects/jobs/", {"files": [
        SimpleUploadedFile("a.png", SAMPLE.read_bytes(), content_type="image/png"),
    ]}, format="multipart")
    assert response.status_code == 201, response.content
    with tenant_scope(tenant_a):
        job = Job.objects.get(pk=response.json()["id"])
        assert [f.name for f in job.files.all()] == ["a.png"]


def test_line_system_posts_raw_bytes_with_a_content_type(api_client_a, tenant_a, tiny_model):
    response = api_client_a.generic(
        "POST", "/api/v1/defects/jobs/?filename=cam7-0001.png", SAMPLE.read_bytes(), content_type="image/png"
    )
    assert response.status_code == 201, response.content
    with tenant_scope(tenant_a):
        job_file = Job.objects.get(pk=response.json()["id"]).files.get()
    assert job_file.name == "cam7-0001.png" and job_file.size == SAMPLE.stat().st_size


def test_raw_bytes_of_an_unaccepted_type_are_refused(api_client_a, tiny_model):
    response = api_client_a.generic("POST", "/api/v1/defects/jobs/", b"GIF89a", content_type="image/gif")
    assert response.status_code == 415


def test_an_unaccepted_file_extension_is_refused(api_client_a, tiny_model):
    response = api_client_a.post("/api/v1/defects/jobs/", {"files": [
        SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain"),
    ]}, format="multipart")
    assert response.status_code == 400
    assert "does not take .txt files" in response.json()["errors"]["files"][0]


def test_results_are_json_per_image_with_an_overlay(api_client_a, finished_job):
    base = f"/api/v1/defects/jobs/{finished_job.pk}/results/"
    body = api_client_a.get(base).json()
    first, second = body["results"]
    assert first["filename"] == "a.png" and first["status"] == "ok"
    assert set(first) >= {"decision", "defect_class", "defect_score", "class_probs", "boxes", "overlay_url"}
    assert second["status"] == "error" and second["overlay_url"] is None
    overlay = api_client_a.get(first["overlay_url"])
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(overlay.content)).size == (200, 200)
    errors_only = api_client_a.get(base, {"status": "error"}).json()
    assert [r["filename"] for r in errors_only["results"]] == ["b.png"]


def test_review_correction_is_stored_as_labelled_data(api_client_a, finished_job, tenant_a):
    url = f"/api/v1/defects/jobs/{finished_job.pk}/results/0/review/"
    response = api_client_a.post(url, {"decision": "fail", "defect_class": "crack", "note": "hairline"}, format="json")
    assert response.status_code == 200, response.content
    with tenant_scope(tenant_a):
        item = ReviewItem.objects.get(result__job=finished_job, result__index=0)
        model_said = (item.result.decision, item.result.defect_class)
        assert (item.decision, item.defect_class, item.note) == ("fail", "crack", "hairline")
        expected = "confirmed" if model_said == ("fail", "crack") else "corrected"
        assert item.status == expected and item.reviewed_at is not None
        assert labelled_examples() == [{
            "result": item.result_id, "image": item.result.part_image.name, "label": "crack",
            "decision": "fail", "status": expected,
        }]


def test_a_failed_verdict_needs_a_defect_class(api_client_a, finished_job):
    url = f"/api/v1/defects/jobs/{finished_job.pk}/results/0/review/"
    response = api_client_a.post(url, {"decision": "fail", "defect_class": "free"}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("suffix", ["results/", "results/0/", "results/0/overlay.png"])
def test_another_tenants_job_answers_404(api_client_b, finished_job, suffix):
    response = api_client_b.get(f"/api/v1/defects/jobs/{finished_job.pk}/{suffix}")
    assert response.status_code == 404


def test_another_tenant_cannot_review(api_client_b, finished_job):
    url = f"/api/v1/defects/jobs/{finished_job.pk}/results/0/review/"
    assert api_client_b.post(url, {"decision": "pass"}, format="json").status_code == 404
