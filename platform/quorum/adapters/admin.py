"""Platform admin views of adapter rows (read-mostly; changes go through the services)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from quorum.adapters.models import ActiveAdapter, AdapterDataset, AdapterTrainingRun, AdapterVersion


class AllTenantsAdmin(admin.ModelAdmin):
    """The platform admin sees every tenant's rows, the explicit escape hatch of scoping."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.model.objects.all_tenants().select_related("tenant")


@admin.register(AdapterDataset)
class AdapterDatasetAdmin(AllTenantsAdmin):
    list_display = ["name", "tenant", "solution", "base_model", "source", "row_count", "created_at"]
    readonly_fields = ["rows_key", "original_key", "rows_sha256", "holdout_indices", "holdout_seed", "report"]


@admin.register(AdapterVersion)
class AdapterVersionAdmin(AllTenantsAdmin):
    list_display = ["solution", "number", "tenant", "base_model", "imported", "created_at"]
    readonly_fields = ["storage_prefix", "lora_options", "adapter_metrics", "base_metrics", "model_card"]


@admin.register(AdapterTrainingRun)
class AdapterTrainingRunAdmin(AllTenantsAdmin):
    list_display = ["id", "tenant", "solution", "base_model", "created_at"]


@admin.register(ActiveAdapter)
class ActiveAdapterAdmin(AllTenantsAdmin):
    list_display = ["tenant", "solution", "version", "updated_at"]
