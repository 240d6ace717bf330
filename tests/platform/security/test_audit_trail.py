"""Every state change leaves an audit event. The list of state-changing API operations comes
from the OpenAPI schema: each must have a scenario here (or name the test that checks its
audit event), so a new endpoint cannot skip the audit trail unnoticed."""

import csv
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from quorum.audit.models import AuditEvent
from quorum.jobs import services as job_services
from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.scoping import tenant_scope
from solutions import registry
from tests.platform.faults.submissions import REPO_ROOT, sample_upload

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
# Operations whose audit events another test checks, with where.
AUDITED_ELSEWHERE = {
    "POST /api/v1/adapters/": "tests/platform/adapters/test_activation.py",
}

# A scenario prepares what the operation needs and returns (path, body, expected action).
Scenario = Callable[[Any, Any, Any], tuple[str, Any, str]]


def _job(tenant, user, solution: str = "echo", status: str = JobStatus.QUEUED) -> Job:
    with tenant_scope(tenant):
        return Job.objects.create(tenant=tenant, solution=solution, status=status, created_by=user)


def _key(client, tenant, user):
    created = client.post("/api/v1/api-keys/", {"name": "k"}, content_type="application/json")
    return f"/api/v1/api-keys/{created.json()['id']}/revoke/", None, "api_key.revoke"


def _webhook(client, tenant, user):
    created = client.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://h.example/x"},
        content_type="application/json",
    )
    return f"/api/v1/webhook-endpoints/{created.json()['id']}/", None, "webhook.delete"


def _upload(solution: str) -> Scenario:
    return lambda client, tenant, user: (
        f"/api/v1/{solution}/jobs/",
        {"files": [sample_upload(registry.get(solution))]},
        "job.create",
    )


def _review(client, tenant, user):
    from tests.solutions.defects.builders import one_inspection_result

    job = _job(tenant, user, "defects", JobStatus.SUCCEEDED)
    with tenant_scope(tenant):
        one_inspection_result(job)
    return (
        f"/api/v1/defects/jobs/{job.pk}/results/0/review/",
        {"decision": "pass"},
        "defects.review",
    )


def _policy(client, tenant, user):
    current = client.get("/api/v1/loans/policy/").json()
    current.pop("updated_at")
    return "/api/v1/loans/policy/", current, "loans.policy.update"


def _finding_review(client, tenant, user):
    from tests.solutions.contracts.builders import build_finding

    finding_id, _ = build_finding(tenant, user, "api/v1/contracts/")
    return (
        f"/api/v1/contracts/findings/{finding_id}/review/",
        {"status": "accepted"},
        "contracts.finding.review",
    )


def _playbook(client, tenant, user):
    current = client.get("/api/v1/contracts/playbook/").json()
    return "/api/v1/contracts/playbook/", current, "contracts.playbook.update"


def _score(client, tenant, user):
    sample = REPO_ROOT / "solutions" / "loans" / "samples" / "german_portfolio.csv"
    application = next(csv.DictReader(sample.read_text().splitlines()))
    return "/api/v1/loans/score", application, "job.create"


SCENARIOS: dict[str, Scenario] = {
    "POST /api/v1/api-keys/": lambda c, t, u: (
        "/api/v1/api-keys/",
        {"name": "n"},
        "api_key.create",
    ),
    "POST /api/v1/api-keys/{api_key_id}/revoke/": _key,
    "POST /api/v1/webhook-endpoints/": lambda c, t, u: (
        "/api/v1/webhook-endpoints/",
        {"url": "https://h.example/y"},
        "webhook.create",
    ),
    "DELETE /api/v1/webhook-endpoints/{webhook_endpoint_id}/": _webhook,
    "POST /api/v1/jobs/{job_id}/cancel/": lambda c, t, u: (
        f"/api/v1/jobs/{_job(t, u).pk}/cancel/",
        None,
        "job.cancel",
    ),
    "POST /api/v1/molecules/jobs/": _upload("molecules"),
    "POST /api/v1/loans/jobs/": _upload("loans"),
    "POST /api/v1/defects/jobs/": _upload("defects"),
    "POST /api/v1/defects/jobs/{job_id}/results/{index}/review/": _review,
    "PUT /api/v1/loans/policy/": _policy,
    "POST /api/v1/loans/score": _score,
    "POST /api/v1/contracts/jobs/": _upload("contracts"),
    "POST /api/v1/contracts/findings/{finding_id}/review/": _finding_review,
    "PUT /api/v1/contracts/playbook/": _playbook,
    "POST /api/v1/loans/outcomes/": lambda c, t, u: (
        "/api/v1/loans/outcomes/",
        [{"application_id": 1, "defaulted": True}],
        "loans.outcomes.upload",
    ),
}


def unsafe_operations() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in UNSAFE
    )


def covered_elsewhere(operation: str) -> bool:
    return any(operation.startswith(prefix) for prefix in AUDITED_ELSEWHERE)


def test_every_state_changing_operation_has_an_audit_scenario() -> None:
    missing = [
        operation
        for operation in unsafe_operations()
        if operation not in SCENARIOS and not covered_elsewhere(operation)
    ]
    assert not missing, f"add an audit scenario for: {missing}"


@pytest.mark.parametrize("operation", sorted(SCENARIOS))
def test_a_state_change_writes_an_audit_event(
    operation, admin_a_client, admin_a, tenant_a, monkeypatch
) -> None:
    if operation not in unsafe_operations():
        pytest.skip(f"{operation} is not in this installation's schema")
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)
    method = operation.split()[0].lower()
    path, body, action = SCENARIOS[operation](admin_a_client, tenant_a, admin_a)
    before = AuditEvent.objects.all_tenants().filter(action=action).count()

    if isinstance(body, dict) and "files" in body:
        response = admin_a_client.post(path, body)
    else:
        response = getattr(admin_a_client, method)(
            path, json.dumps(body) if body is not None else None, content_type="application/json"
        )

    assert 200 <= response.status_code < 300, (response.status_code, response.content[:400])
    events = AuditEvent.objects.all_tenants().filter(action=action)
    assert events.count() == before + 1, f"{operation} wrote no {action} event"
    event = events.order_by("-created_at", "-id").first()
    assert event.tenant_id == tenant_a.pk
    assert event.actor_id == admin_a.pk
    assert event.ip_address


def test_file_uploads_are_named_in_the_job_audit_event(admin_a_client, monkeypatch) -> None:
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)
    upload = SimpleUploadedFile("library.smi", b"CCO ethanol\n")
    if "molecules" not in {s.name for s in registry.all_solutions()}:
        pytest.skip("the molecules solution is not installed")
    assert admin_a_client.post("/api/v1/molecules/jobs/", {"files": [upload]}).status_code == 201
    event = AuditEvent.objects.all_tenants().get(action="job.create")
    assert event.detail["files"] == ["library.smi"]
