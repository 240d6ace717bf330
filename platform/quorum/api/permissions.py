"""Who may call an endpoint: members of the request's tenant, and tenant admins for settings.

An API key acts for its tenant with a member's rights; managing keys and webhooks needs a
tenant admin's session, so a leaked key cannot mint more keys or redirect job events.
"""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from quorum.tenancy.models import ApiKey

if TYPE_CHECKING:  # rest_framework.views imports these modules through its settings
    from rest_framework.views import APIView


def is_tenant_member(request: Request) -> bool:
    tenant = getattr(request._request, "tenant", None)
    if tenant is None:
        return False
    if isinstance(request.auth, ApiKey):
        return request.auth.tenant_id == tenant.pk
    membership = getattr(request._request, "membership", None)
    return (
        membership is not None
        and request.user.is_authenticated
        and membership.user_id == request.user.pk
        and membership.tenant_id == tenant.pk
    )


class IsTenantMember(BasePermission):
    message = "You are not a member of a tenant."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        return is_tenant_member(request)


class IsTenantAdmin(BasePermission):
    message = "Only a tenant admin, signed in, can manage this."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not is_tenant_member(request) or isinstance(request.auth, ApiKey):
            return False
        return request._request.membership.is_admin
