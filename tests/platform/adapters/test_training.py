"""An adapter training job end to end, in process, on a small synthetic dataset."""

import pytest
from django.core.files.storage import default_storage

from quorum.adapters import services
from quorum.adapters.models import AdapterTrainingRun
from quorum.jobs.models import JobStatus
from quorum.jobs.services import create_job
from quorum.tenancy.scoping import tenant_scope
from tests.fixtures.workers import run_job_now
from tests.platform.adapters.support import BASE_MODEL, synthetic_rows, to_csv


def test_training_job_stores_a_version_with_adapter_and_base_metrics(
    tenant_a, admin_a, admin_a_client, django_capture_on_commit_callbacks, in_process_jobs
):
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      name="lender", filename="lender.csv", data=to_csv(synthetic_rows(160)))
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_training(tenant=tenant_a, user=admin_a, dataset=dataset,
                                      options={"epochs": 2, "batch_size": 32, "lr": 1e-2})
    job = run_job_now(run.job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    with tenant_scope(tenant_a):
        run = AdapterTrainingRun.objects.select_related("version").get(pk=run.pk)
    version = run.version
    assert version is not None and version.number == 1
    assert set(version.adapter_metrics) >= {"AUC", "holdout"} and set(version.base_metrics) >= {"AUC"}
    assert version.adapter_metrics["holdout"] == len(dataset.holdout_indices)
    assert [point["epoch"] for point in run.loss_curve] == [1, 2]
    assert "Base model" in version.model_card and "Adapter" in version.model_card
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert default_storage.exists(f"tenants/{tenant_a.pk}/adapters/{version.pk}/{name}")
    assert job.result_summary["version_id"] == str(version.pk)
    progress = admin_a_client.get(f"/adapters/runs/{run.pk}/progress/").content.decode()
    assert '<svg class="loss-curve"' in progress and f"v{version.number}" in progress

    # Activated, it is recorded on the tenant's new loan jobs and handed to their pipeline.
    services.activate(tenant=tenant_a, user=admin_a, version=version)
    with django_capture_on_commit_callbacks(execute=False):
        loan_job = create_job(tenant=tenant_a, user=admin_a, solution="loans", params={})
    assert loan_job.adapter_version_id == str(version.pk)
    assert services.adapter_for_job(loan_job) == version


def test_the_scenario_command_stops_cleanly_without_the_shipped_data(db, tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no data folder"):
        call_command("adapter_scenario", "loans", "--data", str(tmp_path / "missing"))


def test_a_training_job_cancelled_after_its_first_epoch_stops_without_a_version(
    tenant_a, admin_a, django_capture_on_commit_callbacks, in_process_jobs, monkeypatch
):
    from quorum.jobs import services as job_services
    from quorum.jobs.models import Job

    save_progress = job_services.save_progress

    def cancel_after_first_epoch(job_id, owner, percent, message):
        if message.startswith("Epoch 1 "):  # the admin presses Cancel while epoch 2 starts
            Job.objects.all_tenants().filter(pk=job_id).update(cancel_requested=True)
        return save_progress(job_id, owner, percent, message)

    monkeypatch.setattr(job_services, "save_progress", cancel_after_first_epoch)
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      name="lender", filename="lender.csv", data=to_csv(synthetic_rows(80)))
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_training(tenant=tenant_a, user=admin_a, dataset=dataset, options={"epochs": 5})
    job = run_job_now(run.job)
    assert job.status == JobStatus.CANCELLED
    with tenant_scope(tenant_a):
        run = AdapterTrainingRun.objects.get(pk=run.pk)
    assert run.version is None
