"""Activation and rollback: atomic, audited, and every job records exactly one version."""

import threading

import pytest
from django.db import connection

from quorum.adapters import services
from quorum.adapters.models import ActiveAdapter
from quorum.audit.models import AuditEvent
from quorum.jobs import services as job_services
from quorum.jobs.models import Job
from quorum.jobs.services import create_job
from quorum.tenancy.scoping import tenant_scope
from tests.platform.adapters.support import peft_adapter_files, zipped


@pytest.fixture
def two_versions(tenant_a, admin_a):
    return [
        services.import_adapter(tenant=tenant_a, user=admin_a, solution="loans", base_model="german",
                                data=zipped(peft_adapter_files(seed=seed)))
        for seed in (1, 2)
    ]


def active_id(tenant) -> str | None:
    version = services.active_version(tenant, "loans")
    return str(version.pk) if version else None


def test_activate_and_rollback_walk_back_through_versions_with_audit_events(tenant_a, admin_a, two_versions):
    first, second = two_versions
    services.activate(tenant=tenant_a, user=admin_a, version=first)
    services.activate(tenant=tenant_a, user=admin_a, version=second)
    assert active_id(tenant_a) == str(second.pk)
    services.rollback(tenant=tenant_a, user=admin_a, solution="loans")
    assert active_id(tenant_a) == str(first.pk)
    services.deactivate(tenant=tenant_a, user=admin_a, solution="loans")
    assert active_id(tenant_a) is None
    with tenant_scope(tenant_a):
        actions = list(AuditEvent.objects.filter(action__startswith="adapter.").values_list("action", flat=True))
    assert sorted(actions) == sorted(["adapter.import", "adapter.import", "adapter.activate", "adapter.activate",
                                      "adapter.rollback", "adapter.deactivate"])


def test_an_activation_that_fails_halfway_changes_nothing(tenant_a, admin_a, two_versions, monkeypatch):
    first, second = two_versions
    services.activate(tenant=tenant_a, user=admin_a, version=first)

    def audit_down(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "record", audit_down)
    with pytest.raises(RuntimeError):
        services.activate(tenant=tenant_a, user=admin_a, version=second)
    assert active_id(tenant_a) == str(first.pk)
    with tenant_scope(tenant_a):
        assert ActiveAdapter.objects.get(solution="loans").previous_id is None


def test_jobs_created_while_activating_each_record_one_version_that_was_active(
    transactional_db, tenant_a, admin_a, two_versions, monkeypatch
):
    # Real commits (a second thread activates meanwhile); the queue itself is not under test.
    monkeypatch.setattr(job_services, "enqueue_job", lambda job: None)
    first, second = two_versions
    allowed = {str(first.pk), str(second.pk)}
    stop = threading.Event()
    errors: list[BaseException] = []

    def flip() -> None:
        try:
            while not stop.is_set():
                for version in (first, second):
                    services.activate(tenant=tenant_a, user=admin_a, version=version)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    services.activate(tenant=tenant_a, user=admin_a, version=first)
    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        jobs = [create_job(tenant=tenant_a, user=admin_a, solution="loans") for _ in range(30)]
    finally:
        stop.set()
        flipper.join()
    assert not errors
    recorded = [Job.objects.all_tenants().get(pk=job.pk).adapter_version_id for job in jobs]
    assert set(recorded) <= allowed and all(recorded)
    final = active_id(tenant_a)
    after = create_job(tenant=tenant_a, user=admin_a, solution="loans")
    assert after.adapter_version_id == final


def test_a_job_of_another_tenant_never_gets_this_tenants_adapter(tenant_a, tenant_b, admin_a, admin_b, two_versions,
                                                                 django_capture_on_commit_callbacks):
    services.activate(tenant=tenant_a, user=admin_a, version=two_versions[0])
    with django_capture_on_commit_callbacks(execute=False):
        job_b = create_job(tenant=tenant_b, user=admin_b, solution="loans")
    assert job_b.adapter_version_id is None and services.adapter_for_job(job_b) is None
