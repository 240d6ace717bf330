"""Molecule screening's adapter hooks: labelled SMILES CSVs, and a training job on them."""

import pytest

from quorum.adapters import services
from quorum.jobs.models import JobStatus
from tests.fixtures.workers import run_job_now

ALKANOLS = ["C" * n + "O" for n in range(1, 9)] + ["C" * n + "N" for n in range(1, 9)]


def solubility_csv(extra: str = "") -> bytes:
    lines = ["smiles,logS,bbb_penetrating"]
    for i, smiles in enumerate(ALKANOLS * 2):
        lines.append(f"{smiles},{1.0 - 0.5 * len(smiles) + 0.1 * (i % 3)},{i % 2}")
    return ("\n".join(lines) + "\n" + extra).encode()


@pytest.fixture
def molecules_hooks():
    try:
        return services.hooks_for("molecules")
    except services.AdapterRefused:
        pytest.skip("molecule screening is not installed in this run")


def test_rows_are_accepted_or_rejected_with_reasons(molecules_hooks):
    extra = "not-a-smiles,1.0,0\nCCO,,\nCCC,high,1\nCCCC,-2.0,0.5\n"
    report = molecules_hooks.parse_dataset("screening", "series.csv", solubility_csv(extra))
    assert len(report.rows) == 32 and report.label_counts == {"bbb_penetrating=0": 16, "bbb_penetrating=1": 16, "logS": 32}
    reasons = [r["reason"] for r in report.rejected]
    assert reasons[0].startswith("unreadable SMILES") and reasons[1] == "the row has no label"
    assert "logS must be a number" in reasons[2] and "bbb_penetrating must be 0 or 1" in reasons[3]
    no_labels = molecules_hooks.parse_dataset("screening", "s.csv", b"smiles,activity\nCCO,1\n")
    assert not no_labels.rows and "at least one of" in no_labels.rejected[0]["reason"]


def test_a_training_job_on_a_molecule_series(
    molecules_hooks, tenant_a, admin_a, django_capture_on_commit_callbacks, in_process_jobs
):
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="molecules", base_model="screening",
                                      name="series", filename="series.csv", data=solubility_csv())
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_training(tenant=tenant_a, user=admin_a, dataset=dataset, options={"epochs": 1})
    job = run_job_now(run.job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert {"base_score", "adapter_score"} <= set(job.result_summary)
