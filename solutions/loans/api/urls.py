"""Loan API routes, mounted by the platform at /api/v1/loans/."""

from django.urls import path

from solutions.loans.api import views

urlpatterns = [
    path("score", views.ScoreView.as_view(), name="loans-score"),
    path("jobs/", views.BatchJobCreateView.as_view(), name="loans-job-create"),
    path("jobs/<uuid:job_id>/results/", views.JobResultsView.as_view(), name="loans-job-results"),
    path("jobs/<uuid:job_id>/results.csv", views.JobResultsExportView.as_view(), name="loans-job-results-csv"),
    path("policy/", views.PolicyView.as_view(), name="loans-policy"),
    path("outcomes/", views.OutcomeUploadView.as_view(), name="loans-outcomes"),
    path("monitoring/", views.MonitoringView.as_view(), name="loans-monitoring"),
]
