"""Write audit events. Every service that changes state calls `record` inside its transaction."""

import ipaddress
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest

from quorum.audit.models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's IP: REMOTE_ADDR, or X-Forwarded-For behind QUORUM_PROXY_COUNT trusted proxies.

    Only the entries our own proxies appended are trusted; a client can forge the rest.
    """
    if request is None:
        return None
    candidate = request.META.get("REMOTE_ADDR", "")
    proxy_count = getattr(settings, "QUORUM_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxy_count and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxy_count:
            candidate = hops[-proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def actor_label(actor: Any, request: HttpRequest | None) -> str:
    """A readable name for who acted: the user, the API key, or both."""
    parts = []
    if actor is not None and getattr(actor, "is_authenticated", False):
        parts.append(actor.get_username())
    api_key = getattr(request, "api_key", None) if request is not None else None
    if api_key is not None:
        parts.append(f"API key {api_key.name} ({api_key.prefix}…)")
    return " via ".join(parts) if parts else "system"


def record(
    *,
    tenant: Any,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event: `actor` (a user or None) did `action` to `obj` in `tenant`.

    `detail` must never hold a secret (raw API keys, webhook secrets): it is shown to admins.
    """
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        tenant=tenant,
        actor=user,
        actor_label=actor_label(actor, request)[:200],
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_label=str(obj)[:200] if obj is not None else "",
        ip_address=client_ip(request),
        detail=detail or {},
    )
