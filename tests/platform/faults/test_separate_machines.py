"""Workers as on separate machines: each with its own local folder, uploads and adapters on
S3-compatible object storage (moto in server mode on a loopback port), one worker consuming
`cpu` and one `training`. Jobs go to the worker of their queue, and inputs and adapter weights
are read through storage: no file is written to or read from a folder shared between the web
and the workers."""

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quorum.adapters.storage import ADAPTER_FILES, resolve_adapter
from quorum.jobs.models import JobFile, JobStatus
from quorum.jobs.services import create_job
from quorum.tenancy.scoping import tenant_scope
from solutions import registry
from tests.fixtures.workers import WorkerProcess, free_port
from tests.platform.adapters.support import BASE_MODEL, synthetic_rows, to_csv
from tests.platform.faults.training_echo.pipeline import TRAINING_ECHO
from tests.platform.jobs.support import text_file, wait_for_job

S3_BUCKET = "quorum-uploads"
S3_CREDENTIALS = {"S3_ACCESS_KEY_ID": "testing-key", "S3_SECRET_ACCESS_KEY": "testing-secret"}
TEST_APPS = "tests.platform.jobs.echo_solution,tests.platform.faults.training_echo"
ADAPTERS_API = "/api/v1/adapters"
TRAINING_TIMEOUT = 240.0  # seconds: two epochs of LoRA on the german loans model, on a shared CPU


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


def test_an_adapter_trained_on_the_training_machine_is_served_on_the_cpu_machine_from_object_storage(
    celery_worker_process: Callable[..., WorkerProcess],
    s3_storage: dict[str, str],
    worker_media_root: Path,
    tmp_path: Path,
    settings,
    tenant_a,
    admin_a,
    admin_a_client,
) -> None:
    from solutions.loans import services as loans_services
    from solutions.loans.models import ApplicationStatus, ScoredApplication

    machines = {queue: tmp_path / f"{queue}-machine" for queue in ("cpu", "training", "web")}
    settings.QUORUM_ADAPTER_CACHE_DIR = machines["web"] / "adapter-cache"
    workers = {
        queue: celery_worker_process(
            queues=queue,
            QUORUM_SOLUTIONS="loans",
            QUORUM_VAR_DIR=str(machines[queue]),
            OMP_NUM_THREADS="1",
            **s3_storage,
        )
        for queue in ("cpu", "training")
    }

    # The tenant admin uploads a dataset, trains an adapter on it and switches it on.
    uploaded = admin_a_client.post(f"{ADAPTERS_API}/datasets/", {
        "solution": "loans", "base_model": BASE_MODEL, "name": "Lender portfolio",
        "file": SimpleUploadedFile("lender.csv", to_csv(synthetic_rows(160))),
    })
    assert uploaded.status_code == 201, uploaded.content
    started = admin_a_client.post(
        f"{ADAPTERS_API}/training-runs/",
        {"dataset": uploaded.json()["id"], "options": {"epochs": 2, "batch_size": 32, "lr": 1e-2}},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    training_job = wait_for_job(started.json()["job"], lambda j: j.is_finished, timeout=TRAINING_TIMEOUT,
                                worker_log=workers["training"].log)
    assert training_job.status == JobStatus.SUCCEEDED, training_job.error
    version_id = training_job.result_summary["version_id"]
    activated = admin_a_client.post(f"{ADAPTERS_API}/versions/{version_id}/activate/")
    assert activated.status_code == 200, activated.content

    # A portfolio of the tenant is scored on the cpu machine, with the adapter.
    applications = [
        {name: value for name, value in row.items() if name != "bad_credit"} for row in synthetic_rows(12, seed=7)
    ]
    scoring_job = create_job(tenant=tenant_a, user=admin_a, solution="loans", params={},
                             files=[SimpleUploadedFile("portfolio.csv", to_csv(applications))])
    assert scoring_job.adapter_version_id == version_id
    scoring_job = wait_for_job(scoring_job.pk, lambda j: j.is_finished, worker_log=workers["cpu"].log)
    assert scoring_job.status == JobStatus.SUCCEEDED, scoring_job.error
    assert scoring_job.result_summary["adapter_version"] == version_id
    assert scoring_job.result_summary["scored"] == len(applications)
    assert str(training_job.pk) in workers["training"].log()
    assert str(training_job.pk) not in workers["cpu"].log()
    assert str(scoring_job.pk) in workers["cpu"].log()
    assert str(scoring_job.pk) not in workers["training"].log()

    # Its scores are the adapter's (as this process serves them, from storage), not the base model's.
    with tenant_scope(tenant_a):
        served = list(ScoredApplication.objects.filter(job_id=scoring_job.pk).order_by("index"))
        policy = loans_services.policy_for(tenant_a)
    assert [row.status for row in served] == [ApplicationStatus.SCORED] * len(applications)
    # Fetched here, in the test's thread: the server's batching thread then finds it cached and
    # opens no database connection of its own (one would outlive the test).
    assert resolve_adapter(version_id) == machines["web"] / "adapter-cache" / version_id
    scorer = loans_services.get_scorer(BASE_MODEL)
    with_adapter = [score.pd for score in scorer.score(applications, policy, version_id)]
    base = [score.pd for score in scorer.score(applications, policy, None)]
    assert [row.pd for row in served] == pytest.approx(with_adapter, abs=1e-5)
    assert [row.pd for row in served] != pytest.approx(base, abs=1e-5)

    # The adapter's files are in the bucket; the cpu machine read them from there into its own
    # cache, the training machine kept no copy, and no machine's media folder holds anything.
    prefix = f"tenants/{tenant_a.pk}/adapters/{version_id}"
    bucket = s3_client(s3_storage["S3_ENDPOINT_URL"])
    for name in ADAPTER_FILES:
        stored = bucket.get_object(Bucket=S3_BUCKET, Key=f"{prefix}/{name}")["Body"].read()
        assert (machines["cpu"] / "adapter-cache" / version_id / name).read_bytes() == stored
    assert not [path for path in machines["training"].rglob("*") if path.name in ADAPTER_FILES]
    for folder in [worker_media_root, *machines.values()]:
        assert files_under(folder) == [], folder
