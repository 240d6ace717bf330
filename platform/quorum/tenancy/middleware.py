"""Resolve the request's tenant (from an API key or the logged-in user) and enter its scope."""

from collections.abc import Callable
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from quorum.tenancy.models import ApiKey, Membership, Tenant
from quorum.tenancy.scoping import tenant_scope

API_KEY_SCHEME = "api-key"
SESSION_TENANT_KEY = "quorum_tenant_id"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def parse_api_key_header(request: HttpRequest) -> str | None:
    """The raw key of an `Authorization: Api-Key <key>` header, or None without one."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw_key = header.partition(" ")
    if scheme.lower() != API_KEY_SCHEME or not raw_key.strip():
        return None
    return raw_key.strip()


def find_api_key(raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, looked up by its prefix across tenants."""
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != "qk":
        return None
    key = (
        ApiKey.objects.all_tenants()
        .select_related("tenant", "created_by")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.matches(raw_key):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.all_tenants().filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def membership_for(request: HttpRequest) -> Membership | None:
    """The logged-in user's membership in the tenant chosen in the session (or their first)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("tenant")
    chosen = request.session.get(SESSION_TENANT_KEY)
    if chosen is not None:
        membership = memberships.filter(tenant_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.order_by("created_at").first()


class TenantMiddleware:
    """Sets request.tenant, request.membership and request.api_key; scopes the whole request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None
        request.membership = None
        request.api_key = None
        tenant: Tenant | None = None
        raw_key = parse_api_key_header(request)
        if raw_key is not None:
            request.api_key = find_api_key(raw_key)
            if request.api_key is not None:
                tenant = request.api_key.tenant
        else:
            request.membership = membership_for(request)
            if request.membership is not None:
                tenant = request.membership.tenant
        request.tenant = tenant
        if tenant is None:
            return self.get_response(request)
        with tenant_scope(tenant):
            return self.get_response(request)
