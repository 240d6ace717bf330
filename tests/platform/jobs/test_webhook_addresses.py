"""Webhooks go to public addresses only (SSRF): refused when saved, before sending and at connect time."""

import socket
import threading
import urllib.request

import pytest
from django.core.exceptions import ValidationError

from quorum.jobs import webhook_addresses, webhooks
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


def test_a_host_that_rebinds_to_a_private_address_after_the_check_is_not_connected_to(
    tenant_a, admin_a, settings, worker_media_root, monkeypatch
) -> None:
    # DNS rebinding: the check before the delivery sees a public address, the connection's own
    # lookup then answers loopback. The connection resolves and checks in one step, so it refuses.
    receiver = Receiver(failures=0)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    port = receiver.server.server_address[1]
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_dns(host, *args, **kwargs):
        if host != "hooks.example.com":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    try:
        create_webhook_endpoint(tenant_a, admin_a, f"http://hooks.example.com:{port}/hook")
        job = create_job(tenant=tenant_a, user=admin_a, solution="echo", files=[text_file(1)])
        job.status = JobStatus.SUCCEEDED
        (delivery,) = queue_webhooks(job)
        settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
        monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
        webhooks.attempt_delivery(str(delivery.pk))
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    delivery.refresh_from_db()
    assert len(lookups) == 2  # the check, then the connection's own lookup
    assert receiver.requests == []
    error = delivery.attempt_log[-1]["error"]
    assert "could not reach" in error and "127.0.0.1" in error


def test_the_checked_opener_delivers_to_a_public_answer(settings, monkeypatch) -> None:
    # The same path with an answer that stays allowed reaches the server (here on loopback,
    # which the check is told to treat as public).
    receiver = Receiver(failures=0)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(webhook_addresses.ipaddress.IPv4Address, "is_global", property(lambda self: True))
    try:
        request = urllib.request.Request(receiver.url, data=b"{}", method="POST")
        with webhook_addresses.opener().open(request, timeout=5) as response:
            assert response.status == 200
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert len(receiver.requests) == 1
