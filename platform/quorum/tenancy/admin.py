"""Platform-admin (superuser) pages for tenants, their members and their API keys."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from quorum.tenancy.models import ApiKey, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "user__email", "tenant__name")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created by tenant admins (the raw key is shown to them once); here they are read."""

    list_display = (
        "name",
        "tenant",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("tenant",)
    search_fields = ("name", "prefix")
    readonly_fields = (
        "tenant",
        "name",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    exclude = ("key_hash",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        # The platform admin sees every tenant's keys: the explicit escape hatch.
        return ApiKey.objects.all_tenants().select_related("tenant", "created_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
