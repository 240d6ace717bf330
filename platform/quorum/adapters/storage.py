"""Adapter files in Django storage, and the worker-local cache the engine's server reads.

Versions are stored under ``tenants/<tenant id>/adapters/<version id>/`` (the two PEFT files),
datasets under ``tenants/<tenant id>/adapters/datasets/<dataset id>/``. Workers never share a
local path: `resolve_adapter` copies a version's files from storage into this machine's cache
folder on first use, keyed by the immutable version id.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from engine.lora import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE

ADAPTER_FILES = (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE)
_fetch_lock = threading.Lock()


def version_prefix(tenant_id: int, version_id: str) -> str:
    return f"tenants/{tenant_id}/adapters/{version_id}"


def dataset_prefix(tenant_id: int, dataset_id: str) -> str:
    return f"tenants/{tenant_id}/adapters/datasets/{dataset_id}"


def save_bytes(key: str, data: bytes) -> str:
    """Store ``data`` at exactly ``key`` (an existing file there is replaced) and return the key."""
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))


def read_bytes(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return handle.read()


def save_rows(key: str, rows: Iterable[dict[str, Any]]) -> bytes:
    """Store rows as JSON lines; returns the bytes written (what the rows hash is taken of)."""
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    save_bytes(key, data)
    return data


def load_rows(key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_bytes(key).decode().splitlines() if line]


def store_adapter_dir(directory: Path, prefix: str) -> None:
    """Copy the two PEFT files of a local adapter folder into storage under ``prefix``."""
    for name in ADAPTER_FILES:
        save_bytes(f"{prefix}/{name}", (directory / name).read_bytes())


def delete_prefix(prefix: str, names: Iterable[str]) -> None:
    for name in names:
        key = f"{prefix}/{name}"
        if default_storage.exists(key):
            default_storage.delete(key)


def cache_dir() -> Path:
    return Path(settings.QUORUM_ADAPTER_CACHE_DIR)


def resolve_adapter(version_id: str) -> Path:
    """The local folder holding adapter version ``version_id``'s files, fetched once from storage.

    The engine's ModelServer calls this (``adapter_resolver``) the first time a batch needs the
    version. Versions are immutable, so a fetched folder never goes stale. Looked up across
    tenants by id: the id came from a job whose tenant the platform already checked.
    """
    from quorum.adapters.models import AdapterVersion

    target = cache_dir() / str(version_id)
    if all((target / name).is_file() for name in ADAPTER_FILES):
        return target
    with _fetch_lock:
        if all((target / name).is_file() for name in ADAPTER_FILES):
            return target
        version = AdapterVersion.objects.all_tenants().get(pk=version_id)
        if threading.current_thread() is not threading.main_thread():
            # A serving thread lives as long as the worker; a connection it kept open would
            # never be recycled by Django's request/task cleanup and would outlive a DB restart.
            connection.close()
        cache_dir().mkdir(parents=True, exist_ok=True)
        # Fetched into a temporary folder and renamed, so a reader never sees half the files.
        staging = Path(tempfile.mkdtemp(dir=cache_dir(), prefix=".fetch-"))
        for name in ADAPTER_FILES:
            (staging / name).write_bytes(read_bytes(f"{version.storage_prefix}/{name}"))
        try:
            os.replace(staging, target)
        except OSError:  # another process fetched it first
            for name in ADAPTER_FILES:
                (staging / name).unlink(missing_ok=True)
            staging.rmdir()
    return target
