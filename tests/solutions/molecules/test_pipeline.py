"""A screening job end to end in-process: the sample library through the real job runner."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import JobStatus
from quorum.tenancy.scoping import tenant_scope
from solutions.molecules.models import ResultStatus, ScreeningResult
from solutions.molecules.pipeline import clear_results
from solutions.molecules.services import start_screening

from .conftest import SAMPLES


@pytest.fixture
def screen(run_in_process):
    """screen(tenant, user, file name, bytes, **params) -> (finished job, its rows in order)."""

    def run(tenant, user, name: str, content: bytes, **params):
        with tenant_scope(tenant):
            job = start_screening(
                tenant=tenant, user=user, files=[SimpleUploadedFile(name, content)], **params
            )
        run_in_process(job.pk)
        with tenant_scope(tenant):
            job.refresh_from_db()
            rows = list(ScreeningResult.objects.filter(job=job).order_by("index"))
        return job, rows

    return run


@pytest.mark.parametrize("sample", ["drugs.smi", "drugs.csv", "drugs.sdf"])
def test_sample_library_gives_one_row_per_input_row_in_order(
    screen, tenant_a, analyst_a, tiny_model, sample
):
    job, rows = screen(tenant_a, analyst_a, sample, (SAMPLES / sample).read_bytes())
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert [r.index for r in rows] == list(range(len(rows)))
    assert rows[0].name == "aspirin" and rows[1].name == "caffeine"
    errors = [r for r in rows if r.status == ResultStatus.ERROR]
    assert errors and all(r.error and not r.predictions for r in errors)
    assert job.result_summary["molecules"] == len(rows)
    assert job.result_summary["errors"] == len(errors)
    aspirin = rows[0]
    assert aspirin.inchikey == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
    assert aspirin.rules["lipinski"]["pass"]
    assert aspirin.predictions["esol"]["uncertainty"] > 0


def test_smiles_sample_flags_salts_duplicates_pains_and_broken_lines(
    screen, tenant_a, analyst_a, tiny_model
):
    job, rows = screen(tenant_a, analyst_a, "drugs.smi", (SAMPLES / "drugs.smi").read_bytes())
    by_name = {r.name: r for r in rows}
    salt = by_name["sodium aspirin"]
    assert salt.canonical_smiles == by_name["aspirin"].canonical_smiles
    assert salt.duplicate_of == by_name["aspirin"].index
    assert "neutralised" in salt.changes
    assert by_name["caffeine again (duplicate)"].duplicate_of == by_name["caffeine"].index
    rhodanine = by_name["5-benzylidene rhodanine (PAINS)"]
    assert any(a["catalog"] == "PAINS_A" for a in rhodanine.alerts)
    assert "|PAINS_A:" in rhodanine.alert_index
    broken = by_name["broken: unclosed ring"]
    assert broken.status == ResultStatus.ERROR
    assert broken.error == "line 29: SMILES 'C1CC' could not be parsed: unclosed ring"
    assert job.result_summary["duplicates"] == 2 and job.result_summary["with_pains"] >= 1


def test_csv_without_a_smiles_column_fails_the_job_with_a_readable_error(
    screen, tenant_a, analyst_a
):
    job, rows = screen(tenant_a, analyst_a, "library.csv", b"id,formula\n1,C2H6O\n")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith(
        "library.csv: no SMILES column found: the header has 'id', 'formula'"
    )
    assert rows == []


def test_named_smiles_column_and_canonical_tautomer_parameters(
    screen, tenant_a, analyst_a, tiny_model
):
    content = b"label,struct\npyridone,Oc1ccccn1\n"
    job, rows = screen(
        tenant_a, analyst_a, "t.csv", content, smiles_column="struct", name_column="label",
        canonical_tautomer=True,
    )  # fmt: skip
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert rows[0].name == "pyridone" and rows[0].canonical_smiles == "O=c1cccc[nH]1"


def test_rerun_clears_previous_rows(screen, tenant_a, analyst_a, tiny_model):
    job, rows = screen(tenant_a, analyst_a, "a.smi", b"CCO\nCCN\n")
    assert len(rows) == 2
    with tenant_scope(tenant_a):
        clear_results(job)
        assert not ScreeningResult.objects.filter(job=job).exists()


def test_chunks_written_one_behind_their_model_call_keep_every_row_and_prediction(
    screen, tenant_a, analyst_a, tiny_model, monkeypatch
):
    # Each chunk is written after the next one is analysed (its model call runs meanwhile):
    # with chunks of 3, every row of every chunk, the last included, must still land in order.
    from solutions.molecules import pipeline

    content = (SAMPLES / "drugs.smi").read_bytes()
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 10_000)
    single = screen(tenant_a, analyst_a, "drugs.smi", content)[1]
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 3)
    job, rows = screen(tenant_a, analyst_a, "drugs.smi", content)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert len(rows) == len(single) > 6
    for chunked, whole in zip(rows, single, strict=True):
        assert (chunked.index, chunked.status, chunked.canonical_smiles) == (
            whole.index, whole.status, whole.canonical_smiles
        )  # fmt: skip
        assert chunked.predictions == whole.predictions
    assert all(r.predictions for r in rows if r.status == ResultStatus.OK)
    assert job.result_summary["molecules"] == len(rows)
