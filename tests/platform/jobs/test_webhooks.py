"""Webhooks: endpoints with whsec_ secrets, signed deliveries, retries with a delivery log."""

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks import Webhook

from quorum.jobs import webhooks
from quorum.jobs.models import DeliveryStatus, JobStatus, WebhookDelivery
from quorum.jobs.services import create_job, create_webhook_endpoint, queue_webhooks
from tests.platform.jobs.support import text_file, wait_for_job


class Receiver:
    """A local HTTP endpoint that answers the first `failures` requests with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((body, {k.lower(): v for k, v in self.headers.items()}))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"try again later" if failing else b"thanks")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/quorum"

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, f"{len(self.requests)} requests arrived"


@pytest.fixture
def receiver_failing_once() -> Iterator[Receiver]:
    receiver = Receiver(failures=1)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_an_endpoint_gets_a_standard_webhooks_secret(tenant_a, admin_a) -> None:
    endpoint, secret = create_webhook_endpoint(tenant_a, admin_a, "https://example.com/hook")

    assert secret.startswith("whsec_")
    assert endpoint.secret == secret
    assert endpoint.events == ["job.succeeded", "job.failed", "job.cancelled"]
    Webhook(secret)  # the package accepts it as a signing key


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "example.com"])
def test_an_endpoint_url_must_be_http_or_https(tenant_a, admin_a, url) -> None:
    with pytest.raises(ValidationError, match="http"):
        create_webhook_endpoint(tenant_a, admin_a, url)


def test_a_finished_job_is_delivered_signed_and_retried_after_a_failure(
    echo_worker, tenant_a, admin_a, receiver_failing_once
) -> None:
    worker = echo_worker()
    endpoint, secret = create_webhook_endpoint(tenant_a, admin_a, receiver_failing_once.url)
    job = create_job(tenant=tenant_a, user=admin_a, solution="echo", files=[text_file(2)])
    wait_for_job(job.pk, lambda j: j.is_finished, worker_log=worker.log)

    receiver_failing_once.wait_for(2)

    first, second = receiver_failing_once.requests[:2]
    payload = Webhook(secret).verify(second[0], second[1])
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == str(job.pk)
    assert payload["data"]["status"] == JobStatus.SUCCEEDED
    assert payload["data"]["result_summary"] == {"lines": 2, "attempt": 1}
    assert first[1]["webhook-id"] == second[1]["webhook-id"]  # one message, retried
    delivery = WebhookDelivery.objects.all_tenants().get(endpoint=endpoint)
    deadline = time.monotonic() + 10
    while delivery.status == DeliveryStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    assert [entry["status_code"] for entry in delivery.attempt_log] == [500, 200]
    assert delivery.response_excerpt == "thanks"


def test_a_delivery_that_keeps_failing_stops_at_the_cap(
    tenant_a, admin_a, settings, worker_media_root
) -> None:
    settings.QUORUM_WEBHOOK_MAX_ATTEMPTS = 3
    settings.QUORUM_WEBHOOK_RETRY_SECONDS = 2.0
    settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS = 1.0
    create_webhook_endpoint(tenant_a, admin_a, "http://127.0.0.1:9/unreachable")
    job = create_job(tenant=tenant_a, user=admin_a, solution="echo", files=[text_file(1)])
    job.status = JobStatus.FAILED
    (delivery,) = queue_webhooks(job)

    waits = [webhooks.attempt_delivery(str(delivery.pk)) for _ in range(3)]

    delivery.refresh_from_db()
    assert waits == [2.0, 4.0, None]  # exponential backoff, then give up
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert delivery.payload["type"] == "job.failed"
    assert all("could not reach the endpoint" in entry["error"] for entry in delivery.attempt_log)
