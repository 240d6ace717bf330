"""Molecule screening API routes, mounted by the platform at /api/v1/molecules/."""

from django.urls import path

from solutions.molecules.api import views

urlpatterns = [
    path("jobs/", views.ScreeningJobCreateView.as_view(), name="molecules-job-create"),
    path("jobs/<uuid:job_id>/results/", views.ResultListView.as_view(), name="molecules-results"),
    path(
        "jobs/<uuid:job_id>/results/<int:index>/",
        views.ResultDetailView.as_view(),
        name="molecules-result",
    ),
    path(
        "jobs/<uuid:job_id>/results/<int:index>/depiction.svg",
        views.DepictionView.as_view(),
        name="molecules-depiction",
    ),
    path(
        "jobs/<uuid:job_id>/similar/",
        views.SimilaritySearchView.as_view(),
        name="molecules-similar",
    ),
    path(
        "jobs/<uuid:job_id>/substructure/",
        views.SubstructureSearchView.as_view(),
        name="molecules-substructure",
    ),
    path(
        "jobs/<uuid:job_id>/export.<str:kind>",
        views.ExportView.as_view(),
        name="molecules-export",
    ),
]
