"""Starting a screening job: the one place the API and the upload form create jobs through."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from quorum.jobs.models import Job
from quorum.jobs.services import create_job

SOLUTION = "molecules"


def start_screening(
    *,
    tenant: Any,
    user: Any,
    files: Sequence[UploadedFile] = (),
    molecules: list[Any] | None = None,
    smiles_column: str = "",
    name_column: str = "",
    canonical_tautomer: bool = False,
    api_key: Any = None,
    request: HttpRequest | None = None,
) -> Job:
    """Create and enqueue a screening job over uploaded files and/or a list of molecules.

    A JSON list is stored as a JSON Lines file, so the worker streams it like any upload.
    Raises quorum.jobs.services.UploadRejected for a file the platform refuses.
    """
    uploads = list(files)
    if molecules:
        body = "".join(json.dumps(item) + "\n" for item in molecules).encode()
        uploads.append(
            SimpleUploadedFile("molecules.jsonl", body, content_type="application/x-ndjson")
        )
    params: dict[str, Any] = {"canonical_tautomer": canonical_tautomer}
    if smiles_column:
        params["smiles_column"] = smiles_column
    if name_column:
        params["name_column"] = name_column
    return create_job(
        tenant=tenant, user=user, solution=SOLUTION, files=uploads, params=params,
        api_key=api_key, request=request,
    )  # fmt: skip


def screening_job(job_id: Any) -> Job:
    """The active tenant's screening job, or 404 (another tenant's job does not exist here)."""
    return get_object_or_404(Job.objects.filter(solution=SOLUTION), pk=job_id)
