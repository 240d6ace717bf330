"""Django admin for the platform admin: jobs, their files, webhook endpoints and deliveries.

The admin sees every tenant, so each queryset says so with `all_tenants()`.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from quorum.jobs.models import Job, JobFile, WebhookDelivery, WebhookEndpoint


class AllTenantsAdmin(admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.model.objects.all_tenants().select_related("tenant")


class JobFileInline(admin.TabularInline):
    model = JobFile
    fields = ["name", "file", "size", "content_type", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return JobFile.objects.all_tenants()


@admin.register(Job)
class JobAdmin(AllTenantsAdmin):
    list_display = ["id", "tenant", "solution", "status", "progress", "attempts", "created_at"]
    list_filter = ["status", "solution"]
    search_fields = ["id", "tenant__name"]
    readonly_fields = [field.name for field in Job._meta.fields]
    inlines = [JobFileInline]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AllTenantsAdmin):
    list_display = ["url", "tenant", "active", "created_at"]
    list_filter = ["active"]
    exclude = ["secret"]  # never shown again after creation


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AllTenantsAdmin):
    list_display = ["id", "tenant", "event_type", "status", "attempts", "status_code", "created_at"]
    list_filter = ["status", "event_type"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
