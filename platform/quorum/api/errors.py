"""One error format across the API: RFC 9457 problem details (application/problem+json).

Every error body has `type`, `title`, `status`, `detail` and a machine-readable `code`;
validation errors add `errors`, a map from field path ("items.0.name") to messages.
"""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
NON_FIELD_KEY = "non_field_errors"


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The problem-details body for an HTTP `status` with a human `detail`."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(status: int, detail: str, **kwargs: Any) -> Response:
    return Response(
        problem(status, detail, **kwargs), status=status, content_type=PROBLEM_CONTENT_TYPE
    )


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as {"field.sub.0": ["message", ...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for name, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD_KEY: [str(message) for message in messages]} if messages else {}


def validation_summary(errors: dict[str, list[str]]) -> str:
    fields = [name for name in errors if name != NON_FIELD_KEY]
    if not fields:
        return " ".join(errors.get(NON_FIELD_KEY, [])) or "The request is not valid."
    return "The request is not valid: see errors for " + ", ".join(fields) + "."


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's own handling, re-shaped as problem details."""
    # DRF maps Django's two HTTP exceptions the same way; doing it here gives them DRF's codes.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None  # an unexpected error: Django's 500 handling (and logging) takes it
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        body = problem(
            response.status_code, validation_summary(errors), code="invalid", errors=errors
        )
    else:
        codes = exc.get_codes()
        plain = not isinstance(exc.detail, dict | list)
        body = problem(
            response.status_code,
            str(exc.detail) if plain else str(exc.default_detail),
            code=codes if isinstance(codes, str) else exc.default_code,
        )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_json_response(status: int, detail: str, *, code: str | None = None) -> JsonResponse:
    """A problem-details response outside DRF (URL not found, server error under /api/)."""
    return JsonResponse(
        problem(status, detail, code=code), status=status, content_type=PROBLEM_CONTENT_TYPE
    )


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")
