"""The molecules API: jobs from JSON or files, results with filters and sorting, searches,
depictions, exports that read back, and isolation between tenants."""

import csv
import io

import pytest

from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.scoping import tenant_scope
from solutions.molecules.parsing import read_sdf

from .conftest import SAMPLES

JOBS_URL = "/api/v1/molecules/jobs/"
MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    {"smiles": "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "name": "caffeine"},
    {"smiles": "C1CC", "name": "broken"},
    {"smiles": "O=C1C(=Cc2ccccc2)SC(=S)N1", "name": "rhodanine"},
    {"smiles": "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "name": "ibuprofen"},
]


@pytest.fixture
def finished_job(api_client_a, tenant_a, tiny_model, run_in_process):
    response = api_client_a.post(JOBS_URL, {"molecules": MOLECULES}, format="json")
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    run_in_process(job_id)
    with tenant_scope(tenant_a):
        job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def results(client, job, **params):
    response = client.get(f"{JOBS_URL}{job.pk}/results/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_json_list_gives_one_row_per_item_in_order(api_client_a, finished_job):
    body = results(api_client_a, finished_job)
    assert body["count"] == 5
    rows = body["results"]
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok", "ok"]
    assert rows[2]["error"] == "item 3: SMILES 'C1CC' could not be parsed: unclosed ring"
    assert rows[1]["name"] == "caffeine" and rows[1]["descriptors"]["mw"] == pytest.approx(
        194.19, abs=0.01
    )
    assert set(rows[0]["predictions"]["esol"]) >= {"value", "uncertainty", "in_domain"}
    assert rows[0]["depiction_url"].endswith("/results/0/depiction.svg")


def test_filters_and_sorting(api_client_a, finished_job):
    pains = results(api_client_a, finished_job, alert="PAINS")["results"]
    assert [r["name"] for r in pains] == ["rhodanine"]
    assert results(api_client_a, finished_job, status="error")["count"] == 1
    by_mw = [
        r["index"] for r in results(api_client_a, finished_job, sort="-mw", status="ok")["results"]
    ]
    assert by_mw == [3, 4, 1, 0]  # rhodanine 221, ibuprofen 206, caffeine 194, aspirin 180
    light = results(api_client_a, finished_job, max_mw="200")["results"]
    assert {r["index"] for r in light} == {0, 1}
    assert results(api_client_a, finished_job, lipinski="pass")["count"] == 4
    ranked = results(api_client_a, finished_job, sort="-esol", status="ok")["results"]
    values = [r["predictions"]["esol"]["value"] for r in ranked]
    assert values == sorted(values, reverse=True)


def test_bad_filter_is_a_problem_response(api_client_a, finished_job):
    response = api_client_a.get(f"{JOBS_URL}{finished_job.pk}/results/", {"min_colour": "1"})
    assert response.status_code == 400
    assert "there is no property 'colour'" in response.json()["errors"]["query"][0]


def test_detail_depiction_and_searches(api_client_a, finished_job):
    base = f"{JOBS_URL}{finished_job.pk}"
    detail = api_client_a.get(f"{base}/results/3/").json()
    assert any(a["catalog"] == "PAINS_A" for a in detail["alerts"])
    svg = api_client_a.get(f"{base}/results/3/depiction.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    similar = api_client_a.get(f"{base}/similar/", {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}).json()
    assert (
        similar["results"][0]["result"]["index"] == 0 and similar["results"][0]["similarity"] == 1.0
    )
    acids = api_client_a.get(f"{base}/substructure/", {"smarts": "C(=O)[OX2H1]"}).json()
    assert [hit["result"]["index"] for hit in acids["results"]] == [0, 4]
    bad = api_client_a.get(f"{base}/substructure/", {"smarts": "C(("})
    assert bad.status_code == 400


def test_csv_export_reads_back_with_every_row_and_column(api_client_a, finished_job):
    response = api_client_a.get(f"{JOBS_URL}{finished_job.pk}/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["index"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[2]["status"] == "error" and "unclosed ring" in rows[2]["error"]
    assert rows[3]["alerts"].startswith("PAINS_A:ene_rhod_A(235)")
    assert float(rows[1]["mw"]) == pytest.approx(194.19, abs=0.01)
    assert rows[0]["lipinski_pass"] == "true" and rows[0]["esol_uncertainty"]


def test_sdf_export_reads_back_through_our_sdf_reader(api_client_a, finished_job):
    response = api_client_a.get(f"{JOBS_URL}{finished_job.pk}/export.sdf")
    records = list(read_sdf(io.BytesIO(b"".join(response.streaming_content))))
    assert len(records) == 5
    assert (
        records[1].name == "caffeine"
        and records[1].mol.GetProp("inchikey") == "RYYVLZVUVIJVGH-UHFFFAOYSA-N"
    )
    assert records[2].mol is None  # the error row is an empty record
    assert records[3].mol.GetProp("alerts").startswith("PAINS_A:")


def test_multipart_upload_of_the_sample_library(api_client_a, tenant_a, tiny_model, run_in_process):
    with open(SAMPLES / "drugs.sdf", "rb") as handle:
        response = api_client_a.post(JOBS_URL, {"files": [handle]}, format="multipart")
    assert response.status_code == 201, response.content
    run_in_process(response.json()["id"])
    with tenant_scope(tenant_a):
        job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED and job.result_summary["errors"] == 2


def test_request_without_molecules_or_files_is_refused(api_client_a):
    response = api_client_a.post(JOBS_URL, {}, format="json")
    assert response.status_code == 400 and "molecules" in response.json()["errors"]


def test_another_tenant_gets_404_everywhere(api_client_b, finished_job):
    base = f"{JOBS_URL}{finished_job.pk}"
    for url in (
        f"{base}/results/",
        f"{base}/results/0/",
        f"{base}/results/0/depiction.svg",
        f"{base}/similar/?smiles=CCO",
        f"{base}/substructure/?smarts=C",
        f"{base}/export.csv",
    ):
        assert api_client_b.get(url).status_code == 404, url
