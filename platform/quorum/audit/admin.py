"""Read-only admin of the audit trail for the platform admin (every tenant)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from quorum.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "tenant",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "ip_address",
    )
    list_filter = ("action", "tenant")
    search_fields = ("actor_label", "action", "object_id", "object_label")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # The platform admin sees every tenant's trail: the explicit escape hatch.
        return AuditEvent.objects.all_tenants().select_related("tenant")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
