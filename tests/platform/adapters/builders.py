"""One adapter object of a tenant per URL keyword, for the platform's URL isolation walk."""

from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from quorum.adapters import storage
from quorum.adapters.models import AdapterDataset, AdapterTrainingRun, AdapterVersion, DatasetSource
from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope


def _dataset(tenant: Tenant, user: Any) -> AdapterDataset:
    with tenant_scope(tenant):
        return AdapterDataset.objects.create(
            tenant=tenant, solution="loans", base_model="german", name=f"{tenant.slug}-dataset-marker",
            source=DatasetSource.UPLOAD, rows_key=f"tenants/{tenant.pk}/adapters/datasets/x/rows.jsonl",
            rows_sha256="0" * 64, report={"accepted": 10, "rejected": 0, "label_counts": {}}, created_by=user,
        )


def build_adapter_dataset(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    dataset = _dataset(tenant, user)
    return str(dataset.pk), dataset.name


def build_adapter_version(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    marker = f"{tenant.slug}-adapter-version-marker"
    with tenant_scope(tenant):
        number = AdapterVersion.objects.filter(solution="loans").count() + 1
        version = AdapterVersion(tenant=tenant, solution="loans", base_model="german", number=number,
                                 model_card=marker, created_by=user)
        version.storage_prefix = storage.version_prefix(tenant.pk, str(version.pk))
        for name in storage.ADAPTER_FILES:  # placeholders: export only copies them
            default_storage.save(f"{version.storage_prefix}/{name}", ContentFile(b"{}"))
        version.save()
    return str(version.pk), marker


def build_adapter_training_run(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    with tenant_scope(tenant):
        job = Job.objects.create(tenant=tenant, solution="adapter-training", created_by=user,
                                 status=JobStatus.SUCCEEDED, progress=100)
        run = AdapterTrainingRun.objects.create(tenant=tenant, job=job, dataset=_dataset(tenant, user),
                                                solution="loans", base_model="german", created_by=user)
    return str(run.pk), str(run.pk)
