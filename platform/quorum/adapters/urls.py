"""Browser pages of tenant adapters, mounted at /adapters/."""

from django.urls import path

from quorum.adapters import views

app_name = "adapters"

urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/", views.dataset_create, name="dataset-create"),
    path("datasets/<uuid:adapter_dataset_id>/", views.dataset_detail, name="dataset"),
    path("runs/<uuid:adapter_training_run_id>/", views.run_detail, name="run"),
    path("runs/<uuid:adapter_training_run_id>/progress/", views.run_progress, name="run-progress"),
    path("versions/import/", views.version_import, name="version-import"),
    path("versions/<uuid:adapter_version_id>/", views.version_detail, name="version"),
    path("versions/<uuid:adapter_version_id>/activate/", views.version_activate, name="version-activate"),
    path("versions/<uuid:adapter_version_id>/export/", views.version_export, name="version-export"),
    path("rollback/", views.rollback, name="rollback"),
]
