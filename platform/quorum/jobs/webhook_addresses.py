"""Where a webhook may be sent: public addresses only, unless the deployment allows private ones.

A tenant chooses its webhook URL, and the worker that posts to it sits inside the platform's
network; without this check a URL could make the worker call the metadata service, Redis or
an internal admin page (server-side request forgery). The host is resolved when the endpoint is
saved and again before every delivery, since DNS answers can change in between.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def refused_address(url: str) -> str | None:
    """Why `url` may not receive webhooks, or None when it may."""
    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        answers = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        return f"the host {host!r} does not resolve"
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"the host {host!r} resolves to a private or reserved address ({address})"
    return None
