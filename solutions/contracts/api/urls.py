"""Contract review API routes, mounted by the platform at /api/v1/contracts/."""

from django.urls import path

from solutions.contracts.api import views

urlpatterns = [
    path("jobs/", views.ContractJobCreateView.as_view(), name="contracts-job-create"),
    path("jobs/<uuid:job_id>/results/", views.DocumentResultsView.as_view(), name="contracts-results"),
    path("jobs/<uuid:job_id>/report.json", views.ReportJsonView.as_view(), name="contracts-report-json"),
    path("jobs/<uuid:job_id>/report.csv", views.ReportCsvView.as_view(), name="contracts-report-csv"),
    path("findings/<int:finding_id>/review/", views.FindingReviewView.as_view(), name="contracts-finding-review"),
    path("playbook/", views.PlaybookView.as_view(), name="contracts-playbook"),
]
