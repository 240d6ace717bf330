"""/api/v1/adapters/: datasets, training runs, versions, activation, import and export."""

from django.urls import path

from quorum.adapters.api import views

urlpatterns = [
    path("datasets/", views.DatasetListView.as_view(), name="adapter-dataset-list"),
    path("datasets/<uuid:adapter_dataset_id>/", views.DatasetDetailView.as_view(), name="adapter-dataset-detail"),
    path("training-runs/", views.TrainingRunListView.as_view(), name="adapter-training-run-list"),
    path("training-runs/<uuid:adapter_training_run_id>/", views.TrainingRunDetailView.as_view(),
         name="adapter-training-run-detail"),
    path("versions/", views.VersionListView.as_view(), name="adapter-version-list"),
    path("versions/import/", views.VersionImportView.as_view(), name="adapter-version-import"),
    path("versions/<uuid:adapter_version_id>/", views.VersionDetailView.as_view(), name="adapter-version-detail"),
    path("versions/<uuid:adapter_version_id>/activate/", views.VersionActivateView.as_view(),
         name="adapter-version-activate"),
    path("versions/<uuid:adapter_version_id>/export/", views.VersionExportView.as_view(),
         name="adapter-version-export"),
    path("active/", views.ActiveListView.as_view(), name="adapter-active-list"),
    path("active/rollback/", views.RollbackView.as_view(), name="adapter-rollback"),
]
