"""The adapters API and pages: who may do what, quotas as clear 4xx, another tenant's 404."""

import pytest

from quorum.adapters import services
from tests.platform.adapters.support import (
    BASE_MODEL,
    peft_adapter_files,
    synthetic_rows,
    to_csv,
    zipped,
)

API = "/api/v1/adapters"


@pytest.fixture
def dataset_a(tenant_a, admin_a):
    return services.create_dataset(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                   name="lender", filename="lender.csv", data=to_csv(synthetic_rows(40)))


@pytest.fixture
def no_queue(monkeypatch):
    from quorum.jobs import services as job_services

    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)


def upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_an_admin_uploads_a_dataset_and_reads_its_report(admin_a_client):
    response = admin_a_client.post(f"{API}/datasets/", {"solution": "loans", "base_model": BASE_MODEL,
                                                        "file": upload("l.csv", to_csv(synthetic_rows(20)))})
    assert response.status_code == 201, response.content
    assert response.json()["report"]["accepted"] == 20 and len(response.json()["holdout_indices"]) == 4
    refused = admin_a_client.post(f"{API}/datasets/", {"solution": "loans", "base_model": BASE_MODEL,
                                                       "file": upload("l.csv", b"x\n1\n")})
    assert refused.status_code == 400 and "at least 10" in refused.json()["detail"]


def test_a_second_concurrent_training_job_is_refused_with_429(admin_a_client, dataset_a, no_queue):
    first = admin_a_client.post(f"{API}/training-runs/", {"dataset": str(dataset_a.pk), "options": {"epochs": 2}},
                                content_type="application/json")
    assert first.status_code == 202, first.content
    second = admin_a_client.post(f"{API}/training-runs/", {"dataset": str(dataset_a.pk)},
                                 content_type="application/json")
    assert second.status_code == 429 and "limit is 1" in second.json()["detail"]


def test_training_options_outside_the_safe_bounds_are_refused(admin_a_client, dataset_a, no_queue):
    for options in ({"r": 512}, {"target_modules": ["experts"]}, {"epochs": 0}, {"lr": 5.0}, {"seed": 1}):
        response = admin_a_client.post(f"{API}/training-runs/", {"dataset": str(dataset_a.pk), "options": options},
                                       content_type="application/json")
        assert response.status_code == 400, options


def test_the_version_quota_refuses_one_more_adapter(admin_a_client, settings):
    settings.QUORUM_ADAPTER_MAX_VERSIONS = 1
    data = zipped(peft_adapter_files(seed=1))
    form = {"solution": "loans", "base_model": BASE_MODEL}
    assert admin_a_client.post(f"{API}/versions/import/", form | {"file": upload("a.zip", data)}).status_code == 201
    refused = admin_a_client.post(f"{API}/versions/import/", form | {"file": upload("a.zip", data)})
    assert refused.status_code == 429 and "limit" in refused.json()["detail"]


def test_analysts_and_api_keys_see_the_active_adapter_but_cannot_manage(
    tenant_a, admin_a, analyst_a_client, api_client_a
):
    version = services.import_adapter(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      data=zipped(peft_adapter_files(seed=1)))
    services.activate(tenant=tenant_a, user=admin_a, version=version)
    for client in (analyst_a_client, api_client_a):
        active = client.get(f"{API}/active/")
        assert active.status_code == 200 and active.json()[0]["version"]["id"] == str(version.pk)
        assert client.get(f"{API}/versions/").status_code == 403
        assert client.post(f"{API}/versions/{version.pk}/activate/").status_code == 403
    page = analyst_a_client.get("/adapters/")
    assert page.status_code == 200 and f"v{version.number}" in page.content.decode()
    assert analyst_a_client.post(f"/adapters/versions/{version.pk}/activate/").status_code == 403


def test_another_tenant_gets_404_for_versions_and_datasets(tenant_a, admin_a, admin_b_client, dataset_a):
    version = services.import_adapter(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      data=zipped(peft_adapter_files(seed=1)))
    for url in (f"{API}/versions/{version.pk}/", f"{API}/versions/{version.pk}/export/",
                f"{API}/datasets/{dataset_a.pk}/", f"/adapters/versions/{version.pk}/export/"):
        assert admin_b_client.get(url).status_code == 404, url
    assert admin_b_client.post(f"{API}/versions/{version.pk}/activate/").status_code == 404
    assert admin_b_client.get(f"{API}/versions/").json()["results"] == []


def test_admin_pages_show_the_report_the_training_form_and_metrics_side_by_side(
    admin_a_client, dataset_a, tenant_a, admin_a
):
    page = admin_a_client.get(f"/adapters/datasets/{dataset_a.pk}/").content.decode()
    assert "Rows accepted" in page and "LoRA rank r" in page and "Start training" in page
    version = services.import_adapter(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      data=zipped(peft_adapter_files(seed=1)))
    page = admin_a_client.get(f"/adapters/versions/{version.pk}/").content.decode()
    assert "Export (PEFT zip)" in page and "Activate" in page
    export = admin_a_client.get(f"/adapters/versions/{version.pk}/export/")
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"


def test_the_admin_index_lists_datasets_versions_and_the_forms(admin_a_client, dataset_a, tenant_a, admin_a):
    version = services.import_adapter(tenant=tenant_a, user=admin_a, solution="loans", base_model=BASE_MODEL,
                                      data=zipped(peft_adapter_files(seed=1)))
    services.activate(tenant=tenant_a, user=admin_a, version=version)
    page = admin_a_client.get("/adapters/").content.decode()
    assert dataset_a.name in page and "Upload and validate" in page and "Import an adapter" in page
    assert "Roll back to the previous version" in page and "active</span>" in page
    response = admin_a_client.post("/adapters/rollback/", {"solution": "loans"})
    assert response.status_code == 302 and services.active_version(tenant_a, "loans") is None
