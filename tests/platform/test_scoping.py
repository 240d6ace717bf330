"""The one tenant-scoping mechanism: no scope, no query; inside a scope, only that tenant's rows."""

import pytest

from quorum.tenancy.models import ApiKey
from quorum.tenancy.scoping import ScopeError, tenant_scope


@pytest.mark.django_db
def test_querying_a_tenant_owned_model_without_a_scope_raises(api_key_a) -> None:
    with pytest.raises(ScopeError):
        list(ApiKey.objects.all())
    with pytest.raises(ScopeError):
        ApiKey.objects.get(pk=api_key_a.api_key.pk)


@pytest.mark.django_db
def test_a_scope_shows_only_its_tenants_rows(tenant_a, tenant_b, api_key_a, api_key_b) -> None:
    with tenant_scope(tenant_a):
        assert list(ApiKey.objects.values_list("pk", flat=True)) == [api_key_a.api_key.pk]
        assert not ApiKey.objects.filter(pk=api_key_b.api_key.pk).exists()
    with tenant_scope(tenant_b.pk):
        assert list(ApiKey.objects.values_list("pk", flat=True)) == [api_key_b.api_key.pk]


@pytest.mark.django_db
def test_scopes_nest_and_restore(tenant_a, tenant_b, api_key_a, api_key_b) -> None:
    with tenant_scope(tenant_a):
        with tenant_scope(tenant_b):
            assert ApiKey.objects.get().pk == api_key_b.api_key.pk
        assert ApiKey.objects.get().pk == api_key_a.api_key.pk
    with pytest.raises(ScopeError):
        ApiKey.objects.count()


@pytest.mark.django_db
def test_creating_a_row_for_another_tenant_inside_a_scope_is_refused(tenant_a, tenant_b) -> None:
    with tenant_scope(tenant_a), pytest.raises(ScopeError):
        ApiKey.objects.create(tenant=tenant_b, name="stray", prefix="abcd1234", key_hash="x")


@pytest.mark.django_db
def test_all_tenants_is_the_explicit_escape_hatch(api_key_a, api_key_b) -> None:
    assert ApiKey.objects.all_tenants().count() == 2
