"""create_job: uploads are validated before anything is stored, and stored under the tenant."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.jobs.models import Job, JobFile, JobStatus
from quorum.jobs.services import QueueUnavailable, UploadRejected, create_job
from quorum.tenancy.scoping import tenant_scope
from tests.platform.jobs.support import text_file


def stored_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()]


def test_a_valid_upload_is_stored_under_its_tenant_and_job(
    tenant_a, analyst_a, worker_media_root: Path
) -> None:
    job = create_job(
        tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(3, "my notes.txt")]
    )

    assert job.status == JobStatus.QUEUED
    assert job.created_by == analyst_a
    with tenant_scope(tenant_a):
        job_file = job.files.get()
    assert job_file.name == "my notes.txt"
    assert job_file.size == len(b"line 1\nline 2\nline 3\n")
    assert job_file.file.name == f"tenants/{tenant_a.pk}/jobs/{job.pk}/my_notes.txt"
    assert stored_files(worker_media_root / "media") == [
        worker_media_root / "media" / job_file.file.name
    ]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("big.txt", b"x" * 3000),
            "big.txt is 2.9 KB; files may be at most 2.0 KB",
        ),
        (SimpleUploadedFile("tool.exe", b"MZ\x90\x00"), "Echo does not take .exe files; send .txt"),
        (SimpleUploadedFile("README", b"hello"), "does not take files without an extension"),
        (SimpleUploadedFile("empty.txt", b""), "empty.txt is empty."),
    ],
    ids=["oversized", "wrong-extension", "no-extension", "empty"],
)
def test_a_bad_upload_is_rejected_and_nothing_is_stored(
    tenant_a, analyst_a, worker_media_root: Path, settings, upload, message
) -> None:
    settings.QUORUM_MAX_UPLOAD_BYTES = 2048

    with pytest.raises(UploadRejected, match=message):
        create_job(
            tenant=tenant_a,
            user=analyst_a,
            solution="echo",
            files=[text_file(2, "fine.txt"), upload],
        )

    assert Job.objects.all_tenants().count() == 0
    assert JobFile.objects.all_tenants().count() == 0
    assert stored_files(worker_media_root / "media") == []


def test_the_create_is_audited(tenant_a, analyst_a, worker_media_root: Path) -> None:
    from quorum.audit.models import AuditEvent

    job = create_job(tenant=tenant_a, user=analyst_a, solution="echo", params={"sleep": 0})

    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="job.create")
    assert event.object_id == str(job.pk)
    assert event.actor == analyst_a


def test_when_the_queue_is_unreachable_nothing_is_kept(
    transactional_db, tenant_a, analyst_a, worker_media_root: Path, monkeypatch
) -> None:
    from kombu.exceptions import OperationalError

    from quorum.jobs import tasks

    def broker_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(tasks.run_job, "apply_async", broker_down)

    with pytest.raises(QueueUnavailable, match="not reachable right now"):
        create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(2)])

    assert Job.objects.all_tenants().count() == 0
    assert stored_files(worker_media_root / "media") == []


def test_the_api_answers_an_unreachable_queue_with_503_and_retry_after() -> None:
    from quorum.api.errors import problem_exception_handler

    response = problem_exception_handler(QueueUnavailable("The job queue is down."), {})

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.data["detail"] == "The job queue is down."
