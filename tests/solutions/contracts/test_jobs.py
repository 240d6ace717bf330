"""A review job end to end in-process on the sample contract, over the API and the pages:
findings with offsets, key terms, playbook results, review, exports and tenant isolation."""

import csv
import io
import json

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job, JobStatus
from quorum.jobs.services import create_job
from quorum.tenancy.scoping import tenant_scope
from solutions.contracts.models import ContractDocument, Finding

from .conftest import CATEGORIES, SAMPLES

PDF = SAMPLES / "master_services_agreement.pdf"


@pytest.fixture
def analysed(tiny_model, run_in_process, tenant_a, analyst_a):
    """A finished job of tenant A: the sample PDF plus a corrupt file."""
    with tenant_scope(tenant_a):
        job = create_job(tenant=tenant_a, user=analyst_a, solution="contracts", files=[
            SimpleUploadedFile("msa.pdf", PDF.read_bytes(), content_type="application/pdf"),
            SimpleUploadedFile("broken.pdf", b"%PDF-1.4 nonsense", content_type="application/pdf"),
        ])
    return run_in_process(job)


@pytest.mark.django_db
def test_job_analyses_the_sample_and_reports_the_broken_file(analysed, tenant_a):
    assert analysed.status == JobStatus.SUCCEEDED, analysed.error
    assert analysed.result_summary["documents"] == 1 and analysed.result_summary["errors"] == 1
    with tenant_scope(tenant_a):
        good, broken = ContractDocument.objects.filter(job=analysed).order_by("index")
        assert broken.status == "error" and "damaged" in broken.error
        assert len(good.pages) >= 3 and good.risk in ("low", "medium", "high")
        findings = list(good.findings.all())
        assert findings
        for finding in findings:
            assert good.text[finding.start : finding.end] == finding.text
        for key_term in good.key_terms.all():
            assert good.text[key_term.start : key_term.end] == key_term.text
        terms = {t.kind: t.value for t in good.key_terms.all()}
        assert terms["governing_law"] == "New York" and terms["notice_period"] == "30"
        results = {r.rule["label"]: r.status for r in good.playbook_results.all()}
        assert results["Renewal notice of at least 60 days"] == "fail"
        assert results["Governing law in an allowed jurisdiction"] == "pass"


@pytest.mark.django_db
def test_api_results_review_and_exports(analysed, tenant_a, api_client_a):
    body = api_client_a.get(f"/api/v1/contracts/jobs/{analysed.pk}/results/").json()
    document = body["results"][0]
    assert document["name"] == "msa.pdf" and document["findings"] and document["key_terms"] and document["playbook"]
    finding = document["findings"][0]
    assert {"category", "score", "start", "end", "page", "text"} <= set(finding)

    review = api_client_a.post(f"/api/v1/contracts/findings/{finding['id']}/review/",
                               {"status": "accepted", "category": "Governing Law"}, format="json")
    assert review.status_code == 200, review.content
    assert review.json()["final_category"] == "Governing Law" and review.json()["status"] == "accepted"
    bad = api_client_a.post(f"/api/v1/contracts/findings/{finding['id']}/review/", {"status": "maybe"}, format="json")
    assert bad.status_code == 400
    with tenant_scope(tenant_a):
        stored = Finding.objects.get(pk=finding["id"])
        assert stored.relabelled_category == "Governing Law" and stored.reviewed_at is not None

    report = api_client_a.get(f"/api/v1/contracts/jobs/{analysed.pk}/report.json").json()
    assert report["documents"][0]["findings"][0]["final_category"] == "Governing Law"
    rows = list(csv.DictReader(io.StringIO(api_client_a.get(f"/api/v1/contracts/jobs/{analysed.pk}/report.csv").content.decode())))
    assert {r["record"] for r in rows} == {"error", "finding", "key_term", "playbook"}


@pytest.mark.django_db
def test_pages_show_highlights_and_review_buttons(analysed, analyst_a_client, tenant_a):
    with tenant_scope(tenant_a):
        first = Finding.objects.filter(document__job=analysed).first()
        # A span marks its best-scoring finding; the others are listed beside the text.
        finding = Finding.objects.filter(document=first.document, start=first.start, end=first.end).order_by("-score").first()
    page = analyst_a_client.get(f"/contracts/jobs/{analysed.pk}/documents/0/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="finding-{finding.pk}"' in html and "<mark" in html and "Page 2" in html
    assert "csrfmiddlewaretoken" in html and "Relabel" in html
    response = analyst_a_client.post(f"/contracts/findings/{finding.pk}/review/", {"status": "rejected"})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == "rejected"
    report = analyst_a_client.get(f"/contracts/jobs/{analysed.pk}/report/")
    assert report.status_code == 200 and b"Overall risk" in report.content
    assert analyst_a_client.get(f"/contracts/jobs/{analysed.pk}/?list=1").status_code == 200


@pytest.mark.django_db
def test_another_tenant_gets_404(analysed, tenant_a, api_client_b, analyst_b_client):
    with tenant_scope(tenant_a):
        finding = Finding.objects.filter(document__job=analysed).first()
    assert api_client_b.get(f"/api/v1/contracts/jobs/{analysed.pk}/results/").status_code == 404
    assert api_client_b.get(f"/api/v1/contracts/jobs/{analysed.pk}/report.json").status_code == 404
    assert api_client_b.post(f"/api/v1/contracts/findings/{finding.pk}/review/", {"status": "accepted"},
                             format="json").status_code == 404
    assert analyst_b_client.get(f"/contracts/jobs/{analysed.pk}/documents/0/").status_code == 404
    assert analyst_b_client.post(f"/contracts/findings/{finding.pk}/review/", {"status": "rejected"}).status_code == 404
    finding.refresh_from_db()
    assert finding.status == "proposed"


@pytest.mark.django_db
def test_api_upload_rejects_unknown_kinds_and_creates_jobs(tiny_model, api_client_a):
    rejected = api_client_a.post("/api/v1/contracts/jobs/", {"files": [SimpleUploadedFile("a.exe", b"MZ")]}, format="multipart")
    assert rejected.status_code == 400
    created = api_client_a.post("/api/v1/contracts/jobs/", {"files": [SimpleUploadedFile("msa.txt", b"Terms.")]}, format="multipart")
    assert created.status_code == 201, created.content
    assert Job.objects.all_tenants().get(pk=created.json()["id"]).solution == "contracts"


@pytest.mark.django_db
def test_a_job_of_only_unreadable_files_fails_with_the_reasons(tiny_model, run_in_process, tenant_a, analyst_a):
    with tenant_scope(tenant_a):
        job = create_job(tenant=tenant_a, user=analyst_a, solution="contracts",
                         files=[SimpleUploadedFile("empty.docx", b"PK\x03\x04broken")])
    job = run_in_process(job)
    assert job.status == JobStatus.FAILED and "damaged" in job.error


@pytest.mark.django_db
def test_playbook_api_members_read_admins_change(tiny_model, api_client_a, admin_a_client, analyst_a_client):
    assert api_client_a.get("/api/v1/contracts/playbook/").json()["rules"][0]["kind"] == "clause_required"
    rules = [{"kind": "notice_period_min_days", "min_days": 90, "label": "Ninety days", "severity": "high"}]
    assert analyst_a_client.post("/contracts/playbook/", {"rules": "[]"}).status_code == 403
    assert admin_a_client.post("/contracts/playbook/", {"rules": "not json"}).status_code == 200  # form errors shown
    assert admin_a_client.post("/contracts/playbook/", {"rules": json.dumps(rules)}).status_code == 302
    assert api_client_a.get("/api/v1/contracts/playbook/").json()["rules"] == rules


@pytest.mark.django_db
def test_reviews_become_adapter_training_rows(analysed, tenant_a, analyst_a):
    from solutions.contracts import adapters, services

    with tenant_scope(tenant_a):
        accepted, relabelled, rejected = Finding.objects.filter(document__job=analysed).order_by("start", "category")[:3]
        services.review_finding(finding=accepted, user=analyst_a, status="accepted")
        services.review_finding(finding=relabelled, user=analyst_a, status="accepted", category="Renewal Term")
        services.review_finding(finding=rejected, user=analyst_a, status="rejected")
        report = adapters.corrections(tenant_a, "clauses")
    labels = [row["labels"] for row in report.rows]
    merged = {k: v for row in labels for k, v in row.items()}
    assert merged[accepted.category] == 1 and merged["Renewal Term"] == 1
    batch = adapters.batches("clauses", report.rows, batch_size=8)[0]
    assert batch["clauses"].shape == (len(report.rows), 5)
    assert adapters.metric({"clauses": torch.tensor([[9.0] * 5])}, {"clauses": torch.tensor([[1.0] + [float("nan")] * 4])}) == 1.0


def test_adapter_metric_is_average_precision_over_known_cells():
    from solutions.contracts import adapters

    scores = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    nan = float("nan")
    # Ranked 4, 3, 2, 1 with truth 1, 0, 1, 0: precision 1 at the first, 2/3 at the second.
    assert adapters.metric({"clauses": scores}, {"clauses": torch.tensor([[1.0, 0.0], [1.0, 0.0]])}) == pytest.approx((1 + 2 / 3) / 2)
    # The cell a review said nothing about (NaN) is left out: truth 1, _, 1, 0 ranks perfectly.
    assert adapters.metric({"clauses": scores}, {"clauses": torch.tensor([[1.0, nan], [1.0, 0.0]])}) == 1.0
    assert adapters.metric({"clauses": scores}, {"clauses": torch.zeros(2, 2)}) == 0.0


@pytest.mark.django_db
def test_adapter_dataset_upload_accepts_and_rejects_lines(tiny_model):
    from solutions.contracts import adapters

    data = b'{"text": "Liability is capped at $1.", "categories": ["Cap on Liability"]}\n{"text": "", "categories": []}\nnot json\n' \
           b'{"text": "Hello.", "categories": ["Nope"]}\n{"text": "Plain words.", "categories": []}\n'
    report = adapters.parse_dataset("clauses", "d.jsonl", data)
    assert len(report.rows) == 2 and [r["row"] for r in report.rejected] == [2, 3, 4]
    assert report.label_counts == {"Cap on Liability": 1, "no clause": 1}


def test_an_adapter_trains_the_wide_read_out_when_the_base_has_one(tiny_model, tmp_path):
    from engine.checkpoint import load_checkpoint
    from engine.lora import attach_adapter, default_lora_config, load_adapter_weights, save_adapter
    from solutions.contracts import adapters

    saved = adapters.modules_to_save("clauses")
    assert saved == ["heads.clauses", "wide.clauses.weight_bag"]
    base = load_checkpoint(tiny_model)
    directory = save_adapter(attach_adapter(base, default_lora_config(modules_to_save=saved)), tmp_path / "adapter")
    _, tensors = load_adapter_weights(directory, load_checkpoint(tiny_model))
    assert any("wide.clauses.weight_bag" in key for key in tensors)

    # A base model without the read-out (an older checkpoint) saves the head alone.
    config = json.loads((tiny_model / "config.json").read_text())
    (tiny_model / "config.json").write_text(json.dumps({**config, "wide_buckets": 0, "wide_max_len": 0}))
    try:
        assert adapters.modules_to_save("clauses") == ["heads.clauses"]
    finally:
        (tiny_model / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("max_rows", [None, 20])
def test_an_adapter_training_job_refits_the_read_out_to_the_tenants_rows(
    max_rows, tiny_model, tenant_a, admin_a, django_capture_on_commit_callbacks, in_process_jobs, settings, tmp_path,
    monkeypatch,
):
    """The read-out is fitted first (pulled towards the base model's) and then frozen, so the
    stored adapter's copy holds the tenant's keyword while the base model's stays as it was;
    past WIDE_FIT_MAX_ROWS fit rows (here 20 of about 54), on a sample of them."""
    from quorum.adapters import training

    if max_rows is not None:
        monkeypatch.setattr(training, "WIDE_FIT_MAX_ROWS", max_rows)
    from engine.checkpoint import load_checkpoint
    from engine.lora import load_adapter_weights
    from engine.tokenizer import TextTokenizer
    from quorum.adapters import services, storage
    from quorum.adapters.models import AdapterTrainingRun
    from tests.fixtures.workers import run_job_now

    settings.QUORUM_ADAPTER_CACHE_DIR = tmp_path / "adapter-cache"
    lines = []
    for index in range(80):
        if index % 2:
            lines.append({"text": f"This Agreement is governed by the laws of Delaware, clause {index}.", "categories": ["Governing Law"]})
        else:
            lines.append({"text": f"The supplier keeps records of shipment {index}.", "categories": []})
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    dataset = services.create_dataset(tenant=tenant_a, user=admin_a, solution="contracts", base_model="clauses",
                                      name="law firm", filename="spans.jsonl", data=data)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_training(tenant=tenant_a, user=admin_a, dataset=dataset, options={"epochs": 1, "batch_size": 16})
    job = run_job_now(run.job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    with tenant_scope(tenant_a):
        version = AdapterTrainingRun.objects.select_related("version").get(pk=run.pk).version
    assert "N-gram read-out: fitted alone to the training rows first" in version.model_card
    base = load_checkpoint(tiny_model)
    _, tensors = load_adapter_weights(storage.resolve_adapter(str(version.pk)), base)
    [key] = [key for key in tensors if "wide.clauses.weight_bag" in key]
    assert torch.count_nonzero(base.wide["clauses"].weight_bag.weight) == 0  # the tiny base has no fit
    wide = base.wide["clauses"]
    with torch.no_grad():
        wide.weight_bag.weight.copy_(tensors[key])  # (buckets, categories)
    encoded = TextTokenizer.load(tiny_model).encode(
        ["This Agreement is governed by the laws of Delaware, clause 7.", "The supplier keeps records of shipment 8."], max_length=64)
    with torch.no_grad():
        logits = wide(encoded["input_ids"], encoded["attention_mask"].bool())  # (2, categories)
    law = CATEGORIES.index("Governing Law")
    assert logits[0, law] > logits[1, law] + 1.0
