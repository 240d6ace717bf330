"""Every state change of tenants, memberships and API keys: atomic, and written to the audit trail."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from quorum.audit.services import record
from quorum.tenancy.models import ApiKey, Membership, Role, Tenant, generate_api_key, hash_api_key


@transaction.atomic
def create_tenant(
    *, name: str, slug: str, actor: Any = None, request: HttpRequest | None = None
) -> Tenant:
    tenant = Tenant.objects.create(name=name, slug=slug)
    record(tenant=tenant, actor=actor, action="tenant.create", obj=tenant, request=request)
    return tenant


@transaction.atomic
def add_member(
    *,
    tenant: Tenant,
    user: Any,
    role: str = Role.ANALYST,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Membership:
    """Give `user` the `role` in `tenant` (changing the role of an existing member)."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {Role.values}")
    membership, created = Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    elif not created:
        return membership
    record(
        tenant=tenant,
        actor=actor,
        action="membership.create" if created else "membership.change_role",
        obj=membership,
        request=request,
        detail={"user": user.get_username(), "role": role},
    )
    return membership


@transaction.atomic
def create_api_key(
    tenant: Tenant, user: Any, name: str, *, request: HttpRequest | None = None
) -> tuple[ApiKey, str]:
    """A new key for `tenant` and its raw value. Show the raw value once; only its hash is kept."""
    raw_key, prefix = generate_api_key()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        key_hash=hash_api_key(raw_key),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    record(
        tenant=tenant,
        actor=user,
        action="api_key.create",
        obj=api_key,
        request=request,
        detail={"name": name, "prefix": prefix},
    )
    return api_key, raw_key


@transaction.atomic
def revoke_api_key(api_key: ApiKey, user: Any, *, request: HttpRequest | None = None) -> ApiKey:
    """Revoke `api_key` now; requests with it answer 401 from then on. Revoking twice is a no-op."""
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    record(
        tenant=api_key.tenant,
        actor=user,
        action="api_key.revoke",
        obj=api_key,
        request=request,
        detail={"name": api_key.name, "prefix": api_key.prefix},
    )
    return api_key
