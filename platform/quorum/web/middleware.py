"""Browser requests that meet a backing service outage get a 503 page, not a 500.

API views answer QueueUnavailable through DRF's exception handler already (it is an
APIException); plain Django views (the solutions' upload forms) would let it escape as a
server error, and a lost database connection escapes from both. The answer (a page, or
problem details under /api/) and its Retry-After header say to send it again.
"""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from quorum.api.errors import is_api_request, problem_json_response
from quorum.jobs.services import QueueUnavailable

logger = logging.getLogger(__name__)

DATABASE_RETRY_SECONDS = 10


class ServiceUnavailableMiddleware:
    """Turn an unreachable job queue or database into a 503 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, QueueUnavailable):
            return unavailable(request, str(exception.detail), QueueUnavailable.wait)
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error(
                "database unreachable during %s %s: %s", request.method, request.path, exception
            )
            return unavailable(
                request, "The database is not reachable right now.", DATABASE_RETRY_SECONDS
            )
        return None


def unavailable(request: HttpRequest, message: str, retry_after: int) -> HttpResponse:
    if is_api_request(request):
        response: HttpResponse = problem_json_response(
            503, f"{message} Nothing was saved.", code="service_unavailable"
        )
    else:
        # Rendered without the request: context processors would query a database that may be down.
        body = render_to_string("503.html", {"message": message, "retry_after": retry_after})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(retry_after)
    return response
