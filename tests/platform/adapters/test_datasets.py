"""Dataset validation: accepted and rejected rows with reasons, label counts, a fixed holdout."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from quorum.adapters import services
from quorum.adapters.models import DatasetSource
from quorum.tenancy.scoping import tenant_scope
from tests.platform.adapters.support import BASE_MODEL, synthetic_rows, to_csv


def make(tenant, user, data: bytes, filename: str = "lender.csv"):
    return services.create_dataset(tenant=tenant, user=user, solution="loans", base_model=BASE_MODEL,
                                   name="lender", filename=filename, data=data)


def test_each_row_is_accepted_or_rejected_with_its_reason(tenant_a, admin_a):
    rows = synthetic_rows(30)
    rows[3]["bad_credit"] = "maybe"
    rows[5]["purpose"] = "A999"
    rows[7]["age_years"] = ""
    dataset = make(tenant_a, admin_a, to_csv(rows))
    report = dataset.report
    assert report["accepted"] == 27 and report["rejected"] == 3 and dataset.row_count == 27
    reasons = {r["row"]: r["reason"] for r in report["rejections"]}
    assert "bad_credit must be 0 or 1" in reasons[4]
    assert reasons[6].startswith("purpose:")
    assert reasons[8].startswith("age_years:") and "required" in reasons[8]
    assert sum(report["label_counts"].values()) == 27 and set(report["label_counts"]) <= {"default", "repaid"}
    assert dataset.source == DatasetSource.UPLOAD and default_storage.exists(dataset.original_key)


def test_the_holdout_is_fixed_and_tied_to_the_stored_rows(tenant_a, admin_a):
    dataset = make(tenant_a, admin_a, to_csv(synthetic_rows(50)))
    assert len(dataset.holdout_indices) == 10
    assert dataset.holdout_indices == services.holdout_split(50, dataset.holdout_seed)
    train, holdout = services.dataset_parts(dataset)
    assert (len(train), len(holdout)) == (40, 10)
    assert services.dataset_parts(dataset) == (train, holdout)
    default_storage.delete(dataset.rows_key)
    default_storage.save(dataset.rows_key, ContentFile(b'{"changed": 1}\n'))
    with pytest.raises(services.AdapterRefused, match="changed"):
        services.dataset_parts(dataset)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"a,b\n1,2\n", "lender.txt", "send one of .csv"),
        (to_csv(synthetic_rows(5)), "lender.csv", "at least 10"),
        (to_csv([{k: v for k, v in row.items() if k != "bad_credit"} for row in synthetic_rows(20)]),
         "lender.csv", "no bad_credit column"),
        (b"\xff\xfe\x00garbage", "lender.csv", "not UTF-8"),
    ],
    ids=["wrong-kind", "too-few-rows", "no-label-column", "not-text"],
)
def test_unusable_uploads_are_refused_with_a_reason(tenant_a, admin_a, data, filename, message):
    with pytest.raises(services.AdapterRefused, match=message):
        make(tenant_a, admin_a, data, filename)


def test_a_solution_without_adapter_hooks_or_an_unknown_base_model_is_refused(tenant_a, admin_a):
    with pytest.raises(services.AdapterRefused, match="Unknown base model"):
        services.create_dataset(tenant=tenant_a, user=admin_a, solution="loans", base_model="nope",
                                name="x", filename="x.csv", data=b"")
    with pytest.raises(services.AdapterRefused, match="no solution"):
        services.hooks_for("no-such-solution")


def test_the_lenders_recorded_outcomes_become_a_corrections_dataset(tenant_a, admin_a):
    from quorum.jobs.models import Job, JobStatus
    from solutions.loans.models import ApplicationStatus, Outcome, ScoredApplication

    with tenant_scope(tenant_a):
        job = Job.objects.create(tenant=tenant_a, solution="loans", status=JobStatus.SUCCEEDED)
        for index, row in enumerate(synthetic_rows(12)):
            label = row.pop("bad_credit")
            scored = ScoredApplication.objects.create(tenant=tenant_a, job=job, index=index, model_name=BASE_MODEL,
                                                      input=row, status=ApplicationStatus.SCORED)
            Outcome.objects.create(tenant=tenant_a, application=scored, defaulted=bool(label))
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      name="", data=None)
    assert dataset.source == DatasetSource.CORRECTIONS and dataset.row_count == 12 and dataset.original_key == ""
    train, holdout = services.dataset_parts(dataset)
    assert len(train) + len(holdout) == 12 and all(row["label"] in (0, 1) for row in train + holdout)
