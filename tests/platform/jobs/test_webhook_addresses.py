"""Webhooks go to public addresses only (SSRF): refused when saved and again before sending."""

import threading

import pytest
from django.core.exceptions import ValidationError

from quorum.jobs import webhooks
from quorum.jobs.models import JobStatus
from quorum.jobs.services import create_job, create_webhook_endpoint, queue_webhooks
from tests.platform.jobs.support import text_file
from tests.platform.jobs.test_webhooks import Receiver

PRIVATE_URLS = [
    "http://127.0.0.1:6379/",  # loopback: the broker
    "http://localhost:8000/admin/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://no-such-host.invalid/hook",
]


@pytest.fixture
def public_only(settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_a_private_or_unresolvable_url_is_refused_when_saved(tenant_a, admin_a, public_only, url) -> None:
    with pytest.raises(ValidationError, match="public addresses only"):
        create_webhook_endpoint(tenant_a, admin_a, url)


def test_a_public_address_is_accepted(tenant_a, admin_a, public_only) -> None:
    endpoint, _ = create_webhook_endpoint(tenant_a, admin_a, "https://93.184.216.34/hook")
    assert endpoint.url == "https://93.184.216.34/hook"


def test_an_endpoint_that_turned_private_is_not_posted_to(tenant_a, admin_a, settings, worker_media_root) -> None:
    receiver = Receiver(failures=0)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        create_webhook_endpoint(tenant_a, admin_a, receiver.url)  # allowed while it was saved
        job = create_job(tenant=tenant_a, user=admin_a, solution="echo", files=[text_file(1)])
        job.status = JobStatus.SUCCEEDED
        (delivery,) = queue_webhooks(job)
        settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False  # e.g. its DNS now answers 127.0.0.1
        webhooks.attempt_delivery(str(delivery.pk))
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    delivery.refresh_from_db()
    assert receiver.requests == []
    assert "not sent" in delivery.attempt_log[-1]["error"] and "private" in delivery.attempt_log[-1]["error"]
