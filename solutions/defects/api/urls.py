"""Defect inspection API routes, mounted by the platform at /api/v1/defects/."""

from django.urls import path

from solutions.defects.api import views

urlpatterns = [
    path("jobs/", views.InspectionJobCreateView.as_view(), name="defects-job-create"),
    path("jobs/<uuid:job_id>/results/", views.ResultListView.as_view(), name="defects-results"),
    path("jobs/<uuid:job_id>/results/<int:index>/", views.ResultDetailView.as_view(), name="defects-result"),
    path(
        "jobs/<uuid:job_id>/results/<int:index>/overlay.png",
        views.OverlayView.as_view(),
        name="defects-overlay",
    ),
    path(
        "jobs/<uuid:job_id>/results/<int:index>/review/",
        views.ReviewView.as_view(),
        name="defects-review",
    ),
]
