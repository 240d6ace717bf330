"""`Idempotency-Key` for API endpoints that create something.

Rules, per tenant and path, for 24 hours:
- the same key with the same body replays the first (successful) response, status included;
- the same key with another body answers 422;
- the same key while the first request is still running answers 409.
Only a success spends a key: an error response or exception frees it for a corrected retry.
Fields named in `redact` (raw API keys, webhook secrets) are never stored, so a replay shows
them as null: a secret is shown once.
"""

import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from quorum.api.errors import problem_response
from quorum.api.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAYED_RESPONSE_HEADERS = ("Location",)

ViewMethod = Callable[..., Response]


def request_fingerprint(request: Request) -> str:
    """SHA-256 of the request's meaning: method, fields and file contents, independent of
    JSON whitespace, key order and multipart boundaries."""
    digest = hashlib.sha256(request.method.encode())
    data = request.data
    if hasattr(data, "lists"):  # form or multipart: a QueryDict, files included
        for name, values in sorted(data.lists(), key=lambda item: item[0]):
            for value in values:
                digest.update(b"\0" + name.encode() + b"=")
                if isinstance(value, UploadedFile):
                    digest.update(f"file:{value.name}:{value.size}:".encode())
                    for chunk in value.chunks():
                        digest.update(chunk)
                    value.seek(0)
                else:
                    digest.update(str(value).encode())
    else:
        digest.update(json.dumps(data, sort_keys=True, cls=JSONEncoder).encode())
    return digest.hexdigest()


def _stored_body(data: Any, redact: Iterable[str]) -> Any:
    body = json.loads(json.dumps(data, cls=JSONEncoder)) if data is not None else None
    if isinstance(body, dict):
        for name in redact:
            if name in body:
                body[name] = None
    return body


def _claim(tenant: Any, key: str, path: str, fingerprint: str) -> IdempotencyRecord | None:
    """Insert the in-flight record for this key; None when one already exists."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                tenant=tenant, key=key, path=path, request_fingerprint=fingerprint
            )
    except IntegrityError:
        return None


def _run_once(
    func: ViewMethod, args: Any, kwargs: Any, request: Request, key: str, redact: tuple[str, ...]
) -> Response:
    tenant = request._request.tenant
    path = request.path[:500]
    fingerprint = request_fingerprint(request)
    cutoff = timezone.now() - KEY_LIFETIME
    record = _claim(tenant, key, path, fingerprint)
    if record is None:
        existing = IdempotencyRecord.objects.filter(key=key, path=path).first()
        if existing is not None and existing.created_at < cutoff:
            existing.delete()
            existing = None
        if existing is None:
            record = _claim(tenant, key, path, fingerprint)
            if record is None:
                return problem_response(
                    409,
                    "A request with this Idempotency-Key is in progress.",
                    code="idempotency_key_in_use",
                )
        elif existing.request_fingerprint != fingerprint:
            return problem_response(
                422,
                "This Idempotency-Key was used with a different request body.",
                code="idempotency_key_reused",
            )
        elif not existing.is_complete:
            return problem_response(
                409,
                "A request with this Idempotency-Key is in progress.",
                code="idempotency_key_in_use",
            )
        else:
            replay = Response(existing.response_body, status=existing.response_status)
            for header, value in existing.response_headers.items():
                replay[header] = value
            replay[REPLAYED_HEADER] = "true"
            return replay
    IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    try:
        response = func(*args, **kwargs)
    except BaseException:
        record.delete()
        raise
    if not 200 <= response.status_code < 300:
        record.delete()
        return response
    record.response_status = response.status_code
    record.response_body = _stored_body(getattr(response, "data", None), redact)
    record.response_headers = {
        header: response[header] for header in REPLAYED_RESPONSE_HEADERS if header in response
    }
    record.save(update_fields=["response_status", "response_body", "response_headers"])
    return response


def idempotent(
    view_method: ViewMethod | None = None, *, redact: Iterable[str] = ()
) -> ViewMethod | Callable[[ViewMethod], ViewMethod]:
    """Decorate a DRF view method (`post`, `create`) or function view with the Idempotency-Key rules.

    Use as `@idempotent` or `@idempotent(redact=("key",))`.
    """
    redacted = tuple(redact)

    def decorate(func: ViewMethod) -> ViewMethod:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            request = next(arg for arg in args[:2] if isinstance(arg, Request))
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is None or getattr(request._request, "tenant", None) is None:
                return func(*args, **kwargs)
            if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
                return problem_response(
                    400,
                    f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
                    code="invalid_idempotency_key",
                )
            return _run_once(func, args, kwargs, request, key, redacted)

        return wrapper

    return decorate(view_method) if view_method is not None else decorate
