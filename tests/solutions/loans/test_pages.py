"""The loan pages: portfolio upload to results with grades and reasons, monitoring charts,
the policy editor for admins, and the model card."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job
from quorum.tenancy.scoping import tenant_scope
from tests.fixtures.workers import run_job_now
from tests.solutions.loans.test_api import GOOD

PORTFOLIO = b"application_id,amount,age,checking,phone\nP-1,1500,45,high,yes\nP-2,60000,23,low,none\nP-3,abc,40,mid,yes\n"


@pytest.fixture(autouse=True)
def _models(loan_models, in_process_jobs):
    """Every test here scores with the tiny model and runs jobs in-process."""


def upload_portfolio(client, tenant):
    upload = SimpleUploadedFile("portfolio.csv", PORTFOLIO, content_type="text/csv")
    response = client.post("/loans/", {"model": "german", "file": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_scope(tenant):
        job = Job.objects.get(solution="loans")
        return run_job_now(job)


def test_portfolio_upload_shows_grades_reasons_and_errors(analyst_a_client, tenant_a):
    job = upload_portfolio(analyst_a_client, tenant_a)
    page = analyst_a_client.get(f"/loans/jobs/{job.pk}/").content.decode()
    assert "Grade distribution" in page and "<svg" in page
    assert "P-2" in page and "Amount requested is high" in page  # a reason of the risky applicant
    assert "Expected a number (EUR), got &#x27;abc&#x27;." in page  # the bad row's error
    assert str(job.pk)[:8] in analyst_a_client.get("/loans/").content.decode()  # listed on the index


def test_monitoring_page_draws_psi_and_fairness(analyst_a_client, tenant_a):
    upload_portfolio(analyst_a_client, tenant_a)
    page = analyst_a_client.get("/loans/monitoring/?model=german&days=30").content.decode()
    assert "PSI per feature" in page and "Approval rate by Age" in page
    assert page.count("<svg") >= 3


def test_results_of_another_tenant_are_not_found(analyst_a_client, analyst_b_client, tenant_a):
    job = upload_portfolio(analyst_a_client, tenant_a)
    assert analyst_b_client.get(f"/loans/jobs/{job.pk}/").status_code == 404


def test_only_admins_edit_the_policy(analyst_a_client, admin_a_client, api_client_a):
    form = {"approve_max_pd": "0.001", "decline_min_pd": "0.002", "min_age": "18", "max_age": "",
            "base_score": "600", "base_odds": "50", "pdo": "20", "grade_bands": '[["A", 0.5], ["B", 1.0]]'}
    assert analyst_a_client.post("/loans/policy/", form).status_code == 403
    assert admin_a_client.post("/loans/policy/", form).status_code == 302
    assert api_client_a.post("/api/v1/loans/score", GOOD, format="json").json()["decision"] == "decline"
    wrong = admin_a_client.post("/loans/policy/", {**form, "grade_bands": "[[1]]"})
    assert "grade" in wrong.content.decode()


def test_model_card_shows_the_schema(analyst_a_client):
    page = analyst_a_client.get("/loans/model-card/?model=german").content.decode()
    assert "Tiny test model" in page and "200 or more" in page
