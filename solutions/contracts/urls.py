"""Contract review pages, mounted by the platform at /contracts/."""

from django.urls import path

from solutions.contracts import views

app_name = "contracts"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.results, name="results"),
    path("jobs/<uuid:job_id>/documents/<int:index>/", views.document, name="document"),
    path("jobs/<uuid:job_id>/report/", views.report_page, name="report"),
    path("findings/<int:finding_id>/review/", views.review, name="review"),
    path("playbook/", views.playbook, name="playbook"),
]
