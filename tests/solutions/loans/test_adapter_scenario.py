"""The scenario lender of `manage.py adapter_scenario loans`: a CSV of the held-out Taiwan rows
of one segment, optionally labelled by the lender's own definition of default, which the
dataset upload accepts row for row."""

import csv
import io
import random

import pytest
from django.core.management import CommandError, call_command

from quorum.adapters.services import active_version
from solutions.loans import adapters
from solutions.loans.schema import FeatureSchema

# (LIMIT_BAL, PAY_0, BILL_AMT1, shipped label) per row of the valid and the test split.
ROWS = {
    "valid": [(20000, 2, 2500, 1), (20000, 2, 40000, 1), (200000, 0, 100, 0)],
    "test": [(30000, -1, 3000, 1), (300000, 1, 3001, 1), (80000, 0, 90000, 0)],
}


def make_taiwan_data(root, rows_by_split=ROWS):
    schema = FeatureSchema.load(adapters.base_model_dir("taiwan") / "schema.json")
    header = ["id", *(f.name for f in schema.features), schema.target]
    for split, rows in rows_by_split.items():
        with open(root / f"taiwan_credit_default_{split}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            for number, (limit, pay_0, bill, label) in enumerate(rows):
                row = {name: 0 for name in header}
                row.update({"id": number, "LIMIT_BAL": limit, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 35,
                            "PAY_0": pay_0, "BILL_AMT1": bill, schema.target: label})
                writer.writerow(row)
    return root


def uploaded_labels(upload: dict) -> list[str]:
    return [row["default_next_month"] for row in csv.DictReader(io.StringIO(upload["data"].decode()))]


def test_a_segment_lender_uploads_its_held_out_rows_with_the_shipped_labels(tmp_path):
    upload = adapters.scenario(make_taiwan_data(tmp_path), segment="small-limit")
    assert uploaded_labels(upload) == ["1", "1", "1"]  # limits under NT$50,000, valid then test
    report = adapters.parse_dataset(upload["base_model"], upload["filename"], upload["data"])
    assert report.rejected == [] and report.label_counts == {"default": 3}


def test_a_lender_with_a_materiality_threshold_counts_no_default_on_small_balances(tmp_path):
    upload = adapters.scenario(make_taiwan_data(tmp_path), segment="all/material")
    # Defaults on statement balances of NT$2,500 and NT$3,000 are not the lender's defaults.
    assert uploaded_labels(upload) == ["0", "1", "0", "0", "1", "0"]
    assert upload["filename"] == "all-material-accounts.csv"
    report = adapters.parse_dataset(upload["base_model"], upload["filename"], upload["data"])
    assert report.rejected == [] and report.label_counts == {"default": 2, "repaid": 4}


def test_the_scenario_command_trains_and_activates_an_adapter_in_an_existing_tenant(
    transactional_db, tenant_a, admin_a, admin_a_client, tmp_path, in_process_jobs
):
    # Committed as the command commits outside a test, so the job is queued (eagerly) as it starts.
    rng = random.Random(0)
    rows = {split: [(20000, pay_0, rng.randint(0, 9000), int(pay_0 >= 1))
                    for pay_0 in (rng.randint(-1, 3) for _ in range(40))] for split in ROWS}
    out = io.StringIO()
    call_command("adapter_scenario", "loans", "--data", str(make_taiwan_data(tmp_path, rows)),
                 "--tenant", tenant_a.slug, "--epochs", "1", "--batch-size", "32", stdout=out)
    version = active_version(tenant_a, "loans")
    assert version is not None and version.dataset.name == "Taiwan all/material accounts"
    assert f"| Tenant adapter v{version.number} (LoRA r=16) | {version.adapter_metrics['AUC']:.4f} |" in out.getvalue()
    page = admin_a_client.get("/adapters/").content.decode()
    assert version.dataset.name in page


def test_the_scenario_command_refuses_an_unknown_tenant(db, tmp_path):
    with pytest.raises(CommandError, match="no tenant 'nowhere'"):
        call_command("adapter_scenario", "loans", "--data", str(make_taiwan_data(tmp_path)), "--tenant", "nowhere")
