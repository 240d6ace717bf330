"""Workers as on separate machines: each with its own local folder, uploads on S3-compatible
object storage (moto in server mode on a loopback port), one worker consuming `cpu` and one
`training`. Jobs go to the worker of their queue, and inputs are read through storage: no
file is written to or read from a folder shared between the web and the workers."""

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quorum.jobs.models import JobFile, JobStatus
from quorum.jobs.services import create_job
from quorum.tenancy.scoping import tenant_scope
from solutions import registry
from tests.fixtures.workers import WorkerProcess, free_port
from tests.platform.faults.training_echo.pipeline import TRAINING_ECHO
from tests.platform.jobs.support import text_file, wait_for_job

S3_BUCKET = "quorum-uploads"
S3_CREDENTIALS = {"S3_ACCESS_KEY_ID": "testing-key", "S3_SECRET_ACCESS_KEY": "testing-secret"}
TEST_APPS = "tests.platform.jobs.echo_solution,tests.platform.faults.training_echo"


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["S3_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on a free loopback port, with the uploads bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(Bucket=S3_BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_storage(celery_worker_process, s3_endpoint: str, settings) -> dict[str, str]:
    """The test process stores uploads on S3; returns the environment that makes a worker do
    the same (settings.py reads S3_* from the environment)."""
    storages = dict(settings.STORAGES)
    storages["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": s3_endpoint,
            "access_key": S3_CREDENTIALS["S3_ACCESS_KEY_ID"],
            "secret_key": S3_CREDENTIALS["S3_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
            "file_overwrite": False,
        },
    }
    settings.STORAGES = storages
    return {"S3_BUCKET": S3_BUCKET, "S3_ENDPOINT_URL": s3_endpoint, **S3_CREDENTIALS}


@pytest.fixture
def training_echo() -> Iterator[registry.Solution]:
    registry.register(TRAINING_ECHO)
    try:
        yield TRAINING_ECHO
    finally:
        registry.unregister(TRAINING_ECHO.name)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and "media" in path.parts]


def test_jobs_reach_their_queue_and_read_inputs_from_object_storage(
    celery_worker_process: Callable[..., WorkerProcess],
    s3_storage: dict[str, str],
    training_echo: registry.Solution,
    worker_media_root: Path,
    tmp_path: Path,
    tenant_a,
    analyst_a,
) -> None:
    machines = {queue: tmp_path / f"{queue}-machine" for queue in ("cpu", "training")}
    workers = {
        queue: celery_worker_process(
            queues=queue,
            QUORUM_SOLUTIONS="",
            QUORUM_EXTRA_APPS=TEST_APPS,
            QUORUM_VAR_DIR=str(folder),
            **s3_storage,
        )
        for queue, folder in machines.items()
    }
    upload = text_file(3, name="lines.txt")
    expected_digest = hashlib.sha256(upload.read()).hexdigest()
    upload.seek(0)

    cpu_job = create_job(tenant=tenant_a, user=analyst_a, solution="echo", files=[text_file(4)])
    training_job = create_job(
        tenant=tenant_a, user=analyst_a, solution=training_echo.name, files=[upload]
    )
    cpu_job = wait_for_job(cpu_job.pk, lambda j: j.is_finished, worker_log=workers["cpu"].log)
    training_job = wait_for_job(
        training_job.pk, lambda j: j.is_finished, worker_log=workers["training"].log
    )

    assert cpu_job.status == JobStatus.SUCCEEDED, cpu_job.error
    assert cpu_job.result_summary == {"lines": 4, "attempt": 1}
    assert training_job.status == JobStatus.SUCCEEDED, training_job.error
    assert training_job.result_summary["sha256"] == {"lines.txt": expected_digest}
    assert str(cpu_job.pk) in workers["cpu"].log()
    assert str(cpu_job.pk) not in workers["training"].log()
    assert str(training_job.pk) in workers["training"].log()
    assert str(training_job.pk) not in workers["cpu"].log()

    with tenant_scope(tenant_a):
        keys = [job_file.file.name for job_file in JobFile.objects.all()]
    assert len(keys) == 2
    assert all(key.startswith(f"tenants/{tenant_a.pk}/jobs/") for key in keys), keys
    listing = s3_client(s3_storage["S3_ENDPOINT_URL"]).list_objects_v2(Bucket=S3_BUCKET)
    stored = {item["Key"] for item in listing["Contents"]}
    assert set(keys) <= stored
    for folder in [worker_media_root, *machines.values()]:
        assert files_under(folder) == [], folder
