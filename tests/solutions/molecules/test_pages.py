"""The molecule screening pages: upload, results table, molecule page, searches, exports."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.scoping import tenant_scope

from .conftest import SAMPLES


@pytest.fixture
def sample_job(analyst_a_client, tenant_a, tiny_model, run_in_process):
    upload = SimpleUploadedFile("drugs.smi", (SAMPLES / "drugs.smi").read_bytes())
    response = analyst_a_client.post("/molecules/", {"file": upload})
    assert response.status_code == 302, response.content
    with tenant_scope(tenant_a):
        job = Job.objects.get(solution="molecules")
    run_in_process(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def test_upload_page_lists_recent_jobs(analyst_a_client, sample_job):
    page = analyst_a_client.get("/molecules/").content.decode()
    assert "Screen a library" in page and str(sample_job.pk)[:8] in page


def test_results_table_shows_depictions_rules_alerts_and_error_rows(analyst_a_client, sample_job):
    page = analyst_a_client.get(f"/molecules/jobs/{sample_job.pk}/").content.decode()
    assert page.count("<svg") >= 20
    assert "aspirin" in page and "ene_rhod_A(235)" in page
    assert "Export CSV" in page and "Page 1 of 2" in page
    errors = analyst_a_client.get(f"/molecules/jobs/{sample_job.pk}/", {"status": "error"})
    assert (
        "line 29: SMILES &#x27;C1CC&#x27; could not be parsed: unclosed ring"
        in errors.content.decode()
    )


def test_results_table_filters_and_sorts(analyst_a_client, sample_job):
    url = f"/molecules/jobs/{sample_job.pk}/"
    pains = analyst_a_client.get(url, {"alert": "PAINS"}).content.decode()
    assert "rhodanine" in pains and "ibuprofen" not in pains
    heavy = analyst_a_client.get(url, {"range_property": "mw", "range_min": "300", "sort": "-mw"})
    text = heavy.content.decode()
    assert "penicillin G" in text and "aspirin" not in text
    assert text.index("penicillin G") < text.index("clozapine")  # 334 Da before 327 Da


def test_molecule_page_has_radar_predictions_and_alert_pictures(analyst_a_client, sample_job):
    with tenant_scope(sample_job.tenant):
        index = sample_job.molecule_results.get(name__startswith="5-benzylidene").index
    page = analyst_a_client.get(
        f"/molecules/jobs/{sample_job.pk}/molecules/{index}/"
    ).content.decode()
    assert 'aria-label="Bioavailability radar"' in page
    assert "tox21_SR-p53" in page and "PAINS_A" in page


def test_molecule_page_shows_the_measured_analogues_beside_a_blended_value(
    analyst_a_client, sample_job
):
    with tenant_scope(sample_job.tenant):
        row = sample_job.molecule_results.get(name="aspirin")
        row.predictions["lipophilicity"]["neighbour_estimate"] = 0.4321
        row.save(update_fields=["predictions"])
    page = analyst_a_client.get(f"/molecules/jobs/{sample_job.pk}/molecules/{row.index}/").content.decode()
    assert "Measured analogues" in page and '<td class="num">0.432</td>' in page


def test_search_page_finds_similar_and_substructure_matches(analyst_a_client, sample_job):
    url = f"/molecules/jobs/{sample_job.pk}/search/"
    similar = analyst_a_client.get(url, {"smiles": "CC(=O)Oc1ccccc1C(=O)O", "threshold": "0.9"})
    assert "sodium aspirin" in similar.content.decode()
    sulfonamide = analyst_a_client.get(url, {"smarts": "S(=O)(=O)N"}).content.decode()
    assert "celecoxib" in sulfonamide and "1 substructure match" in sulfonamide


def test_exports_download(analyst_a_client, sample_job):
    response = analyst_a_client.get(
        f"/molecules/jobs/{sample_job.pk}/export.csv", {"status": "error"}
    )
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 1 + 4  # header and the four broken lines


def test_another_tenant_cannot_open_the_pages(analyst_b_client, sample_job):
    for path in ("", "molecules/0/", "search/", "export.csv"):
        assert analyst_b_client.get(f"/molecules/jobs/{sample_job.pk}/{path}").status_code == 404
