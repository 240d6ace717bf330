"""Quorum as people use it, in Chromium: an analyst signs in, runs a job of every solution
from its sample files, watches the progress and reads the results; a tenant admin creates an
API key, sees it once, and it works; a tenant admin trains an adapter and switches it on."""

import re

import pytest

from quorum.adapters.models import ActiveAdapter, AdapterTrainingRun
from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.models import Role
from tests.platform.adapters.support import BASE_MODEL, synthetic_rows, to_csv
from tests.platform.faults.submissions import sample_paths, solutions_with_uploads

pytestmark = pytest.mark.slow
JOB_TIMEOUT_MS = 120_000


def test_an_analyst_runs_every_solution_from_its_samples(
    celery_worker_process, signed_in, steps, tenant_a
) -> None:
    solutions = solutions_with_uploads()
    worker = celery_worker_process(QUORUM_SOLUTIONS=",".join(s.name for s in solutions))
    page = signed_in(tenant_a, "analyst@acme.example", Role.ANALYST, steps)
    steps.shot(page, "dashboard")
    for solution in solutions:
        assert page.get_by_text(solution.title).first.is_visible(), solution.title

    for solution in solutions:
        page.goto(f"/{solution.name}/")
        steps.shot(page, f"{solution.name} upload form")
        page.locator("form[enctype='multipart/form-data'] input[type=file]").first.set_input_files(
            str(sample_paths(solution)[0])
        )
        page.locator("form[enctype='multipart/form-data'] [type=submit]").first.click()
        page.wait_for_load_state()
        job = Job.objects.all_tenants().filter(solution=solution.name).latest("created_at")

        page.goto(f"/jobs/{job.pk}/")
        steps.shot(page, f"{solution.name} progress")
        finished = page.locator("#job-progress .badge-succeeded, #job-progress .badge-failed")
        finished.wait_for(timeout=JOB_TIMEOUT_MS)
        steps.shot(page, f"{solution.name} finished")
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, (
            f"{solution.name}: {job.error}\n{worker.log()[-3000:]}"
        )
        assert page.locator(".progress-percent").inner_text() == "100%"

        page.get_by_role("link", name="Open results").click()
        page.wait_for_load_state()
        steps.shot(page, f"{solution.name} results")
        assert str(job.pk) in page.url
        assert "Server error" not in page.title()


def test_a_tenant_admin_creates_an_api_key_that_works(
    signed_in, steps, tenant_a, live_server, transactional_db
) -> None:
    page = signed_in(tenant_a, "admin@acme.example", Role.ADMIN, steps)
    page.get_by_role("link", name=re.compile("API keys", re.I)).first.click()
    steps.shot(page, "api keys")
    page.fill("input[name=name]", "Loan origination system")
    page.get_by_role("button", name="Create key").click()
    raw_key = page.locator("#new-api-key").inner_text().strip()
    steps.shot(page, "key shown once")
    assert raw_key.startswith("qk_")

    page.reload()
    assert raw_key not in page.content()
    assert "Loan origination system" in page.content()
    steps.shot(page, "key listed without its secret")
    response = page.request.get("/api/v1/tenant/", headers={"Authorization": f"Api-Key {raw_key}"})
    assert response.status == 200
    assert response.json()["name"] == tenant_a.name


def test_a_tenant_admin_trains_an_adapter_and_switches_it_on(
    celery_worker_process, signed_in, steps, tenant_a, tmp_path
) -> None:
    worker = celery_worker_process(QUORUM_SOLUTIONS="loans", queues="training")
    page = signed_in(tenant_a, "models@acme.example", Role.ADMIN, steps)
    page.goto("/adapters/")
    steps.shot(page, "adapters")
    portfolio = tmp_path / "lender.csv"
    portfolio.write_bytes(to_csv(synthetic_rows(160)))
    upload = page.locator("form[enctype='multipart/form-data']").first
    upload.locator("select[name=solution]").select_option("loans")
    upload.locator("select[name=base_model]").select_option(BASE_MODEL)
    upload.locator("input[name=name]").fill("Lender portfolio")
    upload.locator("input[type=file]").set_input_files(str(portfolio))
    upload.locator("[type=submit]").click()
    page.wait_for_load_state()
    steps.shot(page, "dataset validated")

    page.fill("input[name=epochs]", "2")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r".*/adapters/runs/"))
    steps.shot(page, "training progress")
    finished = page.get_by_role("link", name=re.compile("Open version"))
    finished.wait_for(timeout=JOB_TIMEOUT_MS)
    steps.shot(page, "training finished")
    run = AdapterTrainingRun.objects.all_tenants().select_related("job").get()
    assert run.job.status == JobStatus.SUCCEEDED, f"{run.job.error}\n{worker.log()[-3000:]}"

    page.goto("/adapters/")
    page.get_by_role("button", name="Activate").first.click()
    page.wait_for_load_state()
    steps.shot(page, "adapter active")
    active = ActiveAdapter.objects.all_tenants().get(tenant=tenant_a, solution="loans")
    assert active.version_id == run.version_id
