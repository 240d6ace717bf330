"""Job endpoints, included by the API URLconf (namespace "api") under /api/v1/."""

from django.urls import path

from quorum.jobs.api import views

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
]
