"""The loans API: real-time scoring, batch jobs with bad rows, results, policy, isolation."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.audit.models import AuditEvent
from quorum.jobs.models import Job, JobStatus, WebhookDelivery
from quorum.jobs.services import create_job, create_webhook_endpoint
from quorum.tenancy.scoping import tenant_scope
from solutions.loans.models import ScoredApplication
from tests.fixtures.workers import run_job_now

GOOD = {"amount": 30000, "age": 30, "checking": "low", "phone": "yes"}
SCORE_URL = "/api/v1/loans/score"


@pytest.fixture(autouse=True)
def _models(loan_models, in_process_jobs):
    """Every test here scores with the tiny model and runs jobs in-process."""


def test_real_time_score_answers_with_reasons_and_records_a_job(api_client_a, tenant_a):
    response = api_client_a.post(SCORE_URL, {**GOOD, "application_id": "APP-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert 0 < body["pd"] < 1
    assert body["decision"] in {"approve", "refer", "decline"}
    assert body["grade"] and isinstance(body["score"], int)
    assert 1 <= len(body["reasons"]) <= 4
    assert {"feature", "text", "value", "contribution"} <= set(body["reasons"][0])
    with tenant_scope(tenant_a):
        job = Job.objects.get(pk=body["job_id"])
        assert job.status == JobStatus.SUCCEEDED and job.params["real_time"] is True
        row = ScoredApplication.objects.get(pk=body["application_id"])
        assert row.input["application_id"] == "APP-1" and row.pd == pytest.approx(body["pd"])
        assert AuditEvent.objects.filter(action="job.create", object_id=str(job.pk)).exists()


def test_a_real_time_score_is_announced_to_the_tenants_webhooks(api_client_a, tenant_a, admin_a):
    endpoint, _ = create_webhook_endpoint(tenant_a, admin_a, "http://127.0.0.1:9/hook")
    response = api_client_a.post(SCORE_URL, GOOD, format="json")
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.all_tenants().get(endpoint=endpoint)
    assert delivery.event_type == "job.succeeded"
    assert delivery.payload["data"]["id"] == response.json()["job_id"]
    summary = delivery.payload["data"]["result_summary"]
    assert summary["scored"] == 1 and summary["decisions"] == {response.json()["decision"]: 1}


def test_bad_application_answers_problem_details_per_field(api_client_a, tenant_a):
    bad = {"amount": "lots", "age": 12, "checking": "gold", "colour": "blue"}
    response = api_client_a.post(SCORE_URL, bad, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert set(errors) == {"amount", "age", "checking", "colour"}
    assert "below the minimum 18" in errors["age"][0]
    with tenant_scope(tenant_a):
        assert not Job.objects.exists()  # nothing scored, nothing recorded


def test_unknown_model_is_a_field_error(api_client_a):
    response = api_client_a.post(f"{SCORE_URL}?model=mortgage", GOOD, format="json")
    assert response.status_code == 400
    assert "model" in response.json()["errors"]


def test_batch_with_bad_rows_scores_the_rest(api_client_a, tenant_a):
    applications = [GOOD, {**GOOD, "age": 12}, "not an object", {k: v for k, v in GOOD.items() if k != "phone"}]
    response = api_client_a.post("/api/v1/loans/jobs/", {"model": "german", "applications": applications}, format="json")
    assert response.status_code == 201, response.content
    with tenant_scope(tenant_a):
        job = run_job_now(Job.objects.get(pk=response.json()["id"]))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result_summary["scored"] == 2 and job.result_summary["errors"] == 2

    results = api_client_a.get(f"/api/v1/loans/jobs/{job.pk}/results/").json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["scored", "error", "error", "scored"]
    assert "age" in results[1]["errors"]
    assert "JSON object" in results[2]["errors"]["non_field_errors"][0]
    assert results[3]["pd"] is not None  # the missing optional phone was scored

    export = api_client_a.get(f"/api/v1/loans/jobs/{job.pk}/results.csv")
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("index,application_id,status,pd") and len(lines) == 5
    assert lines[2].split(",")[2] == "error" and "age:" in lines[2]


def test_csv_portfolio_job(tenant_a, admin_a):
    csv_text = "application_id,amount,age,checking,phone\nA1,2000,40,high,yes\nA2,2000,40,,yes\nA3,90000,30,low,\n"
    upload = SimpleUploadedFile("portfolio.csv", csv_text.encode(), content_type="text/csv")
    job = create_job(tenant=tenant_a, user=admin_a, solution="loans", files=[upload], params={"model": "german"})
    with tenant_scope(tenant_a):
        job = run_job_now(job)
        rows = list(ScoredApplication.objects.filter(job=job).order_by("index"))
    assert job.status == JobStatus.SUCCEEDED
    assert [r.status for r in rows] == ["scored", "error", "scored"]
    assert rows[1].errors == {"checking": ["This field is required (Checking account)."]}
    assert rows[2].pd > rows[0].pd


def test_unreadable_file_fails_the_job_with_a_message(tenant_a, admin_a):
    upload = SimpleUploadedFile("portfolio.json", b"{not json", content_type="application/json")
    job = create_job(tenant=tenant_a, user=admin_a, solution="loans", files=[upload])
    with tenant_scope(tenant_a):
        job = run_job_now(job)
    assert job.status == JobStatus.FAILED
    assert "portfolio.json: not valid UTF-8 JSON" in job.error


def test_results_of_another_tenant_are_not_found(api_client_a, api_client_b):
    response = api_client_a.post("/api/v1/loans/jobs/", {"applications": [GOOD]}, format="json")
    job_id = response.json()["id"]
    assert api_client_b.get(f"/api/v1/loans/jobs/{job_id}/results/").status_code == 404
    assert api_client_a.get(f"/api/v1/loans/jobs/{job_id}/results/").status_code == 200


def test_policy_changes_decisions_and_only_admins_change_it(api_client_a, admin_a):
    from rest_framework.test import APIClient

    strict = {"approve_max_pd": 0.001, "decline_min_pd": 0.002, "min_age": 18, "max_age": None, "base_score": 600,
              "base_odds": 50, "pdo": 20, "grade_bands": [["A", 0.1], ["B", 1.0]]}
    assert api_client_a.put("/api/v1/loans/policy/", strict, format="json").status_code == 403
    admin = APIClient()
    admin.force_login(admin_a)
    assert admin.put("/api/v1/loans/policy/", strict, format="json").status_code == 200
    body = api_client_a.post(SCORE_URL, {**GOOD, "amount": 500, "checking": "high"}, format="json").json()
    assert body["decision"] == "decline" and body["grade"] in {"A", "B"}
    bad = admin.put("/api/v1/loans/policy/", {**strict, "decline_min_pd": 0.0005}, format="json")
    assert bad.status_code == 400


def test_outcomes_feed_the_calibration_report(api_client_a, api_client_b):
    scored = [api_client_a.post(SCORE_URL, GOOD, format="json").json() for _ in range(3)]
    outcomes = [{"application_id": s["application_id"], "defaulted": i == 0} for i, s in enumerate(scored)]
    assert api_client_b.post("/api/v1/loans/outcomes/", outcomes, format="json").json()["saved"] == 0
    assert api_client_a.post("/api/v1/loans/outcomes/", outcomes, format="json").json() == {"saved": 3, "errors": []}
    report = api_client_a.get("/api/v1/loans/monitoring/?model=german&days=7").json()
    assert report["applications"] == 3
    assert report["calibration"]["rows"] == 3 and report["calibration"]["observed_rate"] == pytest.approx(1 / 3)
    assert report["stability"]["pd"]["psi"] >= 0
    assert report["fairness"][0]["feature"] == "age"


def test_csv_reader_keeps_one_row_per_line():
    from solutions.loans.parsing import read_applications

    rows = list(read_applications("p.csv", io.BytesIO(b"amount,age\n1,30\n\n2,40,extra\n3\n")))
    assert [r.application for r in rows] == [{"amount": "1", "age": "30"}, {"amount": "2", "age": "40"}, {"amount": "3"}]
    assert rows[1].error and not rows[0].error and not rows[2].error


def test_an_adapter_serves_only_the_base_model_it_adapts():
    from types import SimpleNamespace

    from solutions.loans.services import adapter_id_for

    version = SimpleNamespace(pk="v-1", base_model="taiwan")
    assert adapter_id_for(version, "taiwan") == "v-1"
    assert adapter_id_for(version, "german") is None
    assert adapter_id_for(None, "german") is None
