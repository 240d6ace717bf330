"""Sign-ins and sign-outs go into the audit trail of the tenant the session acts for."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from quorum.audit.services import record
from quorum.tenancy.middleware import membership_for


@receiver(user_logged_in, dispatch_uid="quorum.audit.login")
def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None:
        return
    membership = membership_for(request)
    if membership is not None:
        record(tenant=membership.tenant, actor=user, action="user.login", request=request)


@receiver(user_logged_out, dispatch_uid="quorum.audit.logout")
def record_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    membership = getattr(request, "membership", None)
    if user is not None and membership is not None:
        record(tenant=membership.tenant, actor=user, action="user.logout", request=request)
