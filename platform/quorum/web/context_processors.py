"""Template context every page needs: the solutions, the active tenant and the user's role."""

from typing import Any

from django.http import HttpRequest

from quorum.tenancy.models import Membership
from solutions import registry


def platform(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    memberships = (
        Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
        if user is not None and user.is_authenticated
        else Membership.objects.none()
    )
    membership = getattr(request, "membership", None)
    return {
        "solutions": registry.all_solutions(),
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "memberships": memberships,
        "is_tenant_admin": membership is not None and membership.is_admin,
    }
