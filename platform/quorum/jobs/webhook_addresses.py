"""Where a webhook may be sent: public addresses only, unless the deployment allows private ones.

A tenant chooses its webhook URL, and the worker that posts to it sits inside the platform's
network; without this check a URL could make the worker call the metadata service, Redis or
an internal admin page (server-side request forgery). The host is checked when the endpoint is
saved, and every delivery connects through `connect_checked`, which resolves, checks and
connects to the checked address in one step: a DNS answer that turns private after a check
(DNS rebinding) is never connected to. `opener` is a urllib opener whose HTTP and HTTPS
connections (redirects included) all go through it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


class RefusedAddress(OSError):
    """A webhook host that resolves to an address the platform may not call."""


def _public_answers(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for host:port, each checked to be a public address."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise RefusedAddress(f"the host {host!r} does not resolve") from None
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise RefusedAddress(f"the host {host!r} resolves to a private or reserved address ({address})")
    return answers


def refused_address(url: str) -> str | None:
    """Why `url` may not receive webhooks, or None when it may."""
    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return None
    parts = urlsplit(url)
    try:
        _public_answers(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except RefusedAddress as refused:
        return str(refused)
    return None


def connect_checked(
    address: tuple[str, int],
    timeout: float | object = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """socket.create_connection to a checked public address of the host (any address when
    the deployment allows private ones)."""
    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return socket.create_connection(address, timeout, source_address)  # type: ignore[arg-type]
    error: OSError | None = None
    for family, kind, protocol, _, sockaddr in _public_answers(*address):
        connection = socket.socket(family, kind, protocol)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                connection.settimeout(timeout)  # type: ignore[arg-type]
            if source_address:
                connection.bind(source_address)
            connection.connect(sockaddr)  # the address just checked, not a new DNS answer
            return connection
        except OSError as exc:
            connection.close()
            error = exc
    raise error or OSError(f"could not connect to {address[0]}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_checked


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = connect_checked


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


def opener() -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection goes through `connect_checked`."""
    return urllib.request.build_opener(_CheckedHTTPHandler, _CheckedHTTPSHandler)
