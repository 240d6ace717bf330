"""Job events sent to tenants' webhook endpoints in the Standard Webhooks format.

Each POST carries `webhook-id` (the delivery's id, the same on every retry so a receiver can
drop duplicates), `webhook-timestamp` and `webhook-signature` made by the `standardwebhooks`
package with the endpoint's `whsec_...` secret. The body is
`{"type": "job.succeeded", "timestamp": ..., "data": {...the job...}}`.
"""

import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, reverse
from standardwebhooks import Webhook

from quorum.jobs import services
from quorum.jobs.models import DeliveryStatus, Job, WebhookDelivery
from quorum.jobs.webhook_addresses import opener, refused_address
from solutions import registry

logger = logging.getLogger(__name__)

RESPONSE_EXCERPT_CHARS = 500
# The longest wait between two attempts, whatever the backoff says.
MAX_RETRY_SECONDS = 3600


def job_links(job: Job) -> dict[str, str | None]:
    """API and result URLs of a job (paths; the solution's result page when it has one)."""
    try:
        detail = reverse("api:job-detail", kwargs={"job_id": job.pk})
        cancel = reverse("api:job-cancel", kwargs={"job_id": job.pk})
    except NoReverseMatch:
        detail = cancel = None
    result = None
    try:
        solution = registry.get(job.solution)
    except LookupError:
        solution = None
    if solution is not None and solution.result_url is not None:
        result = solution.result_url(job)
    return {"self": detail, "cancel": cancel, "result": result}


def job_event_payload(job: Job, event_type: str) -> dict[str, Any]:
    data = {
        "id": str(job.pk),
        "solution": job.solution,
        "status": job.status,
        "progress": job.progress,
        "result_summary": job.result_summary,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "links": job_links(job),
    }
    payload = {"type": event_type, "timestamp": datetime.now(UTC), "data": data}
    # Stored as JSON on the delivery row: datetimes become ISO strings here, once.
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def signed_request(delivery: WebhookDelivery, sent_at: datetime) -> urllib.request.Request:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    message_id = f"msg_{delivery.pk.hex}"
    signature = Webhook(delivery.endpoint.secret).sign(message_id, sent_at, body)
    return urllib.request.Request(
        delivery.endpoint.url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Quorum-Webhooks/1",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        },
    )


def post(request: urllib.request.Request) -> tuple[int | None, str, str]:
    """Send the request: (status code or None, response excerpt, error text)."""
    timeout = settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS
    try:
        with opener().open(request, timeout=timeout) as response:
            excerpt = response.read(RESPONSE_EXCERPT_CHARS).decode(errors="replace")
            return response.status, excerpt, ""
    except urllib.error.HTTPError as error:
        excerpt = error.read(RESPONSE_EXCERPT_CHARS).decode(errors="replace")
        return error.code, excerpt, f"the endpoint answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return None, "", f"could not reach the endpoint: {reason}"


def retry_delay(attempts_made: int) -> float:
    """Exponential backoff: RETRY_SECONDS, then twice that, and so on, capped."""
    base = settings.QUORUM_WEBHOOK_RETRY_SECONDS
    return min(base * 2 ** (attempts_made - 1), MAX_RETRY_SECONDS)


def attempt_delivery(delivery_id: str) -> float | None:
    """Make one attempt; the seconds to wait before the next one, or None when done."""
    delivery = (
        WebhookDelivery.objects.all_tenants()
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None  # the endpoint was deleted, or a redelivered message after success
    if not delivery.endpoint.active:
        return None
    refused = refused_address(delivery.endpoint.url)
    if refused:
        status_code, excerpt, error = None, "", f"not sent: {refused}"
    else:
        status_code, excerpt, error = post(signed_request(delivery, datetime.now(UTC)))
    final = delivery.attempts + 1 >= settings.QUORUM_WEBHOOK_MAX_ATTEMPTS
    delivery = services.record_delivery_attempt(
        delivery, status_code=status_code, response_excerpt=excerpt, error=error, final=final
    )
    logger.info(
        "webhook %s attempt %s to %s: %s",
        delivery.pk,
        delivery.attempts,
        delivery.endpoint.url,
        status_code if status_code is not None else error,
    )
    if delivery.status == DeliveryStatus.PENDING:
        return retry_delay(delivery.attempts)
    return None
