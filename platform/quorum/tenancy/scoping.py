"""The one tenant-scoping mechanism: a context-local active tenant and a manager that needs it.

Every tenant-owned model uses `TenantScopedManager` as its default manager. Querying it with no
active tenant raises `ScopeError`; inside `tenant_scope(tenant)` every query is filtered to that
tenant. Code that truly needs every tenant says so with `Model.objects.all_tenants()`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from quorum.tenancy.models import Tenant

_active_tenant_id: ContextVar[int | None] = ContextVar("quorum_active_tenant_id", default=None)


class ScopeError(RuntimeError):
    """A tenant-owned model was queried with no active tenant scope."""


def current_tenant_id() -> int | None:
    return _active_tenant_id.get()


def require_tenant_id() -> int:
    tenant_id = _active_tenant_id.get()
    if tenant_id is None:
        raise ScopeError("no active tenant scope: wrap the code in tenant_scope(tenant)")
    return tenant_id


@contextmanager
def tenant_scope(tenant: "Tenant | int") -> Iterator[None]:
    """Make `tenant` the active tenant for the code inside the block (thread/task local)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    token = _active_tenant_id.set(tenant_id)
    try:
        yield
    finally:
        _active_tenant_id.reset(token)


class TenantScopedQuerySet(models.QuerySet):
    pass


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Default manager of tenant-owned models: filters to the active tenant or refuses."""

    def get_queryset(self) -> TenantScopedQuerySet:
        return super().get_queryset().filter(tenant_id=require_tenant_id())

    def all_tenants(self) -> TenantScopedQuerySet:
        """Every tenant's rows. Rare and reviewed: workers' lookups by id, platform admin."""
        return super().get_queryset()

    def create(self, **kwargs: Any) -> Any:
        """Create in the active tenant, or in the one given; a row for another tenant than the
        active scope is refused (it would be invisible to the code that just made it)."""
        given = kwargs["tenant"].pk if "tenant" in kwargs else kwargs.get("tenant_id")
        if given is None:
            kwargs["tenant_id"] = require_tenant_id()
        elif current_tenant_id() not in (None, given):
            raise ScopeError(
                f"creating a row of tenant {given} inside tenant {current_tenant_id()}'s scope"
            )
        return super().get_queryset().create(**kwargs)


class TenantOwned(models.Model):
    """Abstract base of every tenant-owned row: a tenant foreign key and the scoped manager."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedManager()

    class Meta:
        abstract = True
        default_manager_name = "objects"
