"""Every way adapter rows change: datasets, training requests, activation, import and export.

Views and API views call these functions; each checks the tenant's quotas, writes an audit
event and raises a typed error (`AdapterRefused` and its subclasses) whose message the user
can act on.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest

from engine.lora import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, MAX_WEIGHTS_BYTES, AdapterError
from quorum.adapters import storage
from quorum.adapters.models import (
    ActiveAdapter,
    AdapterDataset,
    AdapterTrainingRun,
    AdapterVersion,
    DatasetSource,
)
from quorum.adapters.spec import AdapterHooks, DatasetReport
from quorum.audit.services import record
from quorum.jobs.models import Job, JobStatus
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions import registry

TRAINING_KIND = "adapter-training"  # the registry name of the training job kind
HOLDOUT_FRACTION = 0.2
MIN_ROWS = 10  # fewer accepted rows cannot give both a training part and a holdout
# Training settings an admin may set besides the LoRA options, with their bounds.
TRAINING_BOUNDS = {"epochs": (1, 50), "patience": (1, 20), "batch_size": (8, 512)}
LEARNING_RATE_BOUNDS = (1e-5, 1e-1)
DEFAULT_TRAINING = {"epochs": 10, "patience": 3, "batch_size": 64, "lr": 3e-3}
LORA_OPTION_NAMES = ("r", "lora_alpha", "lora_dropout", "target_modules")


class AdapterRefused(ValueError):
    """A request the adapters app will not carry out; the message says why (a 4xx)."""

    status_code = 400


class QuotaExceeded(AdapterRefused):
    status_code = 429


class ImportRejected(AdapterRefused):
    pass


def hooks_for(solution: str) -> AdapterHooks:
    """The adapter hooks of a registered solution, or AdapterRefused."""
    try:
        module = registry.get(solution).adapters
    except LookupError:
        raise AdapterRefused(f"There is no solution named {solution!r}.") from None
    if module is None:
        raise AdapterRefused(f"{registry.get(solution).title} does not take tenant adapters yet.")
    return importlib.import_module(module)  # type: ignore[return-value]


def adapter_solutions() -> list[registry.Solution]:
    return [s for s in registry.all_solutions() if s.adapters is not None]


def _check_base_model(hooks: AdapterHooks, base_model: str) -> None:
    if base_model not in hooks.base_models():
        raise AdapterRefused(f"Unknown base model {base_model!r}; choose one of {', '.join(hooks.base_models())}.")


# ---------------------------------------------------------------------------------------------
# Datasets


def holdout_split(count: int, seed: int, fraction: float = HOLDOUT_FRACTION) -> list[int]:
    """Sorted row indices of the holdout: a seeded draw of ``fraction`` of ``count`` rows."""
    size = max(1, round(count * fraction))
    return sorted(random.Random(seed).sample(range(count), size))


def create_dataset(
    *,
    tenant: Tenant,
    user: Any,
    solution: str,
    base_model: str,
    name: str,
    filename: str = "",
    data: bytes | None = None,
    holdout_seed: int | None = None,
    request: HttpRequest | None = None,
) -> AdapterDataset:
    """Validate an upload (or, with ``data`` None, gather the tenant's reviewed corrections),
    store the accepted rows and fix the holdout split (drawn with ``holdout_seed``, random when
    None). Refuses a dataset too small to split."""
    hooks = hooks_for(solution)
    _check_base_model(hooks, base_model)
    if data is None:
        with tenant_scope(tenant):  # the hook reads the tenant's own review rows
            report = hooks.corrections(tenant, base_model)
        if report is None:
            raise AdapterRefused(f"{registry.get(solution).title} has no reviewed corrections to learn from.")
        source = DatasetSource.CORRECTIONS
    else:
        if not any(filename.lower().endswith(kind) for kind in hooks.dataset_kinds):
            raise AdapterRefused(f"{filename or 'The file'}: send one of {', '.join(hooks.dataset_kinds)}.")
        if len(data) > settings.QUORUM_MAX_UPLOAD_BYTES:
            raise AdapterRefused(f"{filename} is larger than {settings.QUORUM_MAX_UPLOAD_BYTES} bytes.")
        report = hooks.parse_dataset(base_model, filename, data)
        source = DatasetSource.UPLOAD
    if len(report.rows) < MIN_ROWS:
        raise AdapterRefused(
            f"Only {len(report.rows)} rows were accepted ({len(report.rejected)} rejected); "
            f"a dataset needs at least {MIN_ROWS}." + _first_reasons(report)
        )
    with transaction.atomic(), tenant_scope(tenant):
        dataset = AdapterDataset(
            tenant=tenant,
            solution=solution,
            base_model=base_model,
            name=name[:200] or filename[:200] or "corrections",
            source=source,
            row_count=len(report.rows),
            report=report.summary(),
            holdout_seed=random.SystemRandom().randrange(2**62) if holdout_seed is None else holdout_seed,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        prefix = storage.dataset_prefix(tenant.pk, str(dataset.pk))
        if data is not None:
            dataset.original_key = storage.save_bytes(f"{prefix}/original{_suffix(filename)}", data)
        dataset.rows_key = f"{prefix}/rows.jsonl"
        written = storage.save_rows(dataset.rows_key, report.rows)
        dataset.rows_sha256 = hashlib.sha256(written).hexdigest()
        dataset.holdout_indices = holdout_split(len(report.rows), dataset.holdout_seed)
        dataset.save()
        record(tenant=tenant, actor=user, action="adapter.dataset.create", obj=dataset, request=request,
               detail={"solution": solution, "accepted": len(report.rows), "rejected": len(report.rejected)})
    return dataset


def _suffix(filename: str) -> str:
    return Path(filename).suffix.lower()[:10] if filename else ""


def _first_reasons(report: DatasetReport) -> str:
    reasons = [f"row {r['row']}: {r['reason']}" for r in report.rejected[:3]]
    return (" First problems: " + "; ".join(reasons) + ".") if reasons else ""


def dataset_parts(dataset: AdapterDataset) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, holdout rows) of a dataset, checked against the stored rows hash."""
    data = storage.read_bytes(dataset.rows_key)
    if hashlib.sha256(data).hexdigest() != dataset.rows_sha256:
        raise AdapterRefused(f"The stored rows of dataset {dataset.name} changed; upload it again.")
    rows = [json.loads(line) for line in data.decode().splitlines() if line]
    holdout = set(dataset.holdout_indices)
    return [r for i, r in enumerate(rows) if i not in holdout], [r for i, r in enumerate(rows) if i in holdout]


# ---------------------------------------------------------------------------------------------
# Training


def clean_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """LoRA options and training settings within the safe bounds, defaults filled in."""
    from engine.lora import default_lora_config

    options = dict(options or {})
    unknown = sorted(set(options) - set(LORA_OPTION_NAMES) - set(DEFAULT_TRAINING))
    if unknown:
        raise AdapterRefused(f"Unknown training options: {', '.join(unknown)}.")
    lora = {k: options[k] for k in LORA_OPTION_NAMES if options.get(k) is not None}
    try:
        config = default_lora_config(**lora)
    except (AdapterError, TypeError, ValueError) as exc:
        raise AdapterRefused(str(exc)) from None
    cleaned: dict[str, Any] = {
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": sorted(config.target_modules),
    }
    for key, (low, high) in TRAINING_BOUNDS.items():
        value = options.get(key, DEFAULT_TRAINING[key])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise AdapterRefused(f"{key} must be a whole number from {low} to {high}.")
        cleaned[key] = value
    lr = options.get("lr", DEFAULT_TRAINING["lr"])
    if not isinstance(lr, (int, float)) or not LEARNING_RATE_BOUNDS[0] <= lr <= LEARNING_RATE_BOUNDS[1]:
        raise AdapterRefused(f"lr must be from {LEARNING_RATE_BOUNDS[0]} to {LEARNING_RATE_BOUNDS[1]}.")
    cleaned["lr"] = float(lr)
    return cleaned


def _lock_tenant(tenant: Tenant) -> None:
    # Serialises a tenant's quota checks, so two requests cannot both take the last place.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def _check_version_quota(tenant: Tenant) -> None:
    limit = settings.QUORUM_ADAPTER_MAX_VERSIONS
    if AdapterVersion.objects.all_tenants().filter(tenant=tenant).count() >= limit:
        raise QuotaExceeded(f"The tenant already keeps {limit} adapter versions, its limit.")


def start_training(
    *, tenant: Tenant, user: Any, dataset: AdapterDataset, options: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AdapterTrainingRun:
    """Queue an adapter training job on the dataset, within the tenant's quotas."""
    from quorum.jobs.services import create_job

    cleaned = clean_options(options)
    hooks_for(dataset.solution)
    with transaction.atomic(), tenant_scope(tenant):
        _lock_tenant(tenant)
        limit = settings.QUORUM_ADAPTER_MAX_CONCURRENT_TRAINING
        running = AdapterTrainingRun.objects.filter(
            job__status__in=(JobStatus.QUEUED, JobStatus.RUNNING)
        ).count()
        if running >= limit:
            raise QuotaExceeded(f"{running} adapter training job(s) already running; the limit is {limit}.")
        _check_version_quota(tenant)
        # The job and its run commit together; the job is queued after the commit.
        job = create_job(tenant=tenant, user=user, solution=TRAINING_KIND, params={"dataset": str(dataset.pk)},
                         request=request)
        run = AdapterTrainingRun.objects.create(
            tenant=tenant, job=job, dataset=dataset, solution=dataset.solution, base_model=dataset.base_model,
            options=cleaned, created_by=job.created_by,
        )
        record(tenant=tenant, actor=user, action="adapter.training.start", obj=run, request=request,
               detail={"dataset": str(dataset.pk), "options": cleaned})
    return run


def next_version_number(tenant: Tenant, solution: str) -> int:
    current = AdapterVersion.objects.all_tenants().filter(tenant=tenant, solution=solution).aggregate(n=Max("number"))
    return (current["n"] or 0) + 1


# ---------------------------------------------------------------------------------------------
# Activation


def active_version(tenant: Tenant | int, solution: str) -> AdapterVersion | None:
    with tenant_scope(tenant):
        active = ActiveAdapter.objects.select_related("version").filter(solution=solution).first()
    return active.version if active else None


def _set_active(tenant: Tenant, user: Any, solution: str, version: AdapterVersion | None, action: str,
                request: HttpRequest | None) -> ActiveAdapter:
    with transaction.atomic(), tenant_scope(tenant):
        ActiveAdapter.objects.get_or_create(tenant=tenant, solution=solution)
        # The row lock orders concurrent activations; a job created meanwhile reads either the
        # old or the new version, never a mix.
        active = ActiveAdapter.objects.select_for_update().get(solution=solution)
        before = active.version
        if action == "adapter.rollback":
            version = active.previous
        active.previous = before
        active.version = version
        active.save(update_fields=["version", "previous", "updated_at"])
        record(tenant=tenant, actor=user, action=action, obj=version or active, request=request,
               detail={"solution": solution, "from": str(before.pk) if before else None,
                       "to": str(version.pk) if version else None})
    return active


def activate(*, tenant: Tenant, user: Any, version: AdapterVersion, request: HttpRequest | None = None) -> ActiveAdapter:
    """Make ``version`` the one the tenant's new jobs of its solution use."""
    return _set_active(tenant, user, version.solution, version, "adapter.activate", request)


def rollback(*, tenant: Tenant, user: Any, solution: str, request: HttpRequest | None = None) -> ActiveAdapter:
    """Go back to the version active before the last change (the base model if none was)."""
    return _set_active(tenant, user, solution, None, "adapter.rollback", request)


def deactivate(*, tenant: Tenant, user: Any, solution: str, request: HttpRequest | None = None) -> ActiveAdapter:
    """Serve the base model again."""
    return _set_active(tenant, user, solution, None, "adapter.deactivate", request)


def record_job_adapter(job: Job) -> None:
    """Set a new job's adapter version from its tenant's active adapter (a pre_save hook)."""
    if not job._state.adding or job.adapter_version_id or job.solution == TRAINING_KIND:
        return
    version_id = (
        ActiveAdapter.objects.all_tenants()
        .filter(tenant_id=job.tenant_id, solution=job.solution)
        .values_list("version_id", flat=True)
        .first()
    )
    if version_id is not None:
        job.adapter_version_id = str(version_id)


def adapter_for_job(job: Job) -> AdapterVersion | None:
    """The adapter version a job runs with (the one recorded when it was created)."""
    if not job.adapter_version_id:
        return None
    return AdapterVersion.objects.all_tenants().filter(tenant_id=job.tenant_id, pk=job.adapter_version_id).first()


# ---------------------------------------------------------------------------------------------
# Export and import


def export_zip(version: AdapterVersion) -> bytes:
    """The version as a zip of adapter_config.json + adapter_model.safetensors."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in storage.ADAPTER_FILES:
            archive.writestr(name, storage.read_bytes(f"{version.storage_prefix}/{name}"))
    return buffer.getvalue()


def _unpack_adapter_zip(data: bytes, target: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportRejected("The upload is not a zip archive.") from None
    with archive:
        names = [info.filename for info in archive.infolist()]
        expected = {ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE}
        extra = sorted(set(names) - expected)
        if extra:
            raise ImportRejected(
                f"The archive may hold only {ADAPTER_CONFIG_FILE} and {ADAPTER_WEIGHTS_FILE}; "
                f"it also holds {', '.join(extra)}."
            )
        missing = sorted(expected - set(names))
        if missing or len(names) != len(expected):
            raise ImportRejected(f"The archive must hold {ADAPTER_CONFIG_FILE} and {ADAPTER_WEIGHTS_FILE} once each.")
        for info in archive.infolist():
            if info.file_size > MAX_WEIGHTS_BYTES:
                raise ImportRejected(f"{info.filename} is larger than {MAX_WEIGHTS_BYTES >> 20} MB.")
            (target / info.filename).write_bytes(archive.read(info))


def import_adapter(
    *, tenant: Tenant, user: Any, solution: str, base_model: str, data: bytes, request: HttpRequest | None = None
) -> AdapterVersion:
    """Store an adapter trained elsewhere after checking it against the base model."""
    from engine.checkpoint import load_checkpoint
    from engine.lora import load_adapter_weights

    hooks = hooks_for(solution)
    _check_base_model(hooks, base_model)
    with tempfile.TemporaryDirectory() as staging:
        folder = Path(staging)
        _unpack_adapter_zip(data, folder)
        try:
            config, _ = load_adapter_weights(folder, load_checkpoint(hooks.base_model_dir(base_model)))
        except AdapterError as exc:
            raise ImportRejected(f"The adapter does not fit the {base_model} base model: {exc}") from None
        options = {"r": config.r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout,
                   "target_modules": sorted(config.target_modules or []),
                   "modules_to_save": list(config.modules_to_save or [])}
        with transaction.atomic(), tenant_scope(tenant):
            _lock_tenant(tenant)
            _check_version_quota(tenant)
            version = AdapterVersion(
                tenant=tenant, solution=solution, base_model=base_model,
                number=next_version_number(tenant, solution), lora_options=options,
                metric_name=hooks.metric_name, imported=True,
                model_card=f"Imported adapter for the {base_model} base model of {solution}; "
                "trained outside Quorum, so no holdout metrics were measured here.",
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            version.storage_prefix = storage.version_prefix(tenant.pk, str(version.pk))
            storage.store_adapter_dir(folder, version.storage_prefix)
            version.save()
            record(tenant=tenant, actor=user, action="adapter.import", obj=version, request=request,
                   detail={"solution": solution, "base_model": base_model})
    return version
