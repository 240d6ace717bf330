"""Loan scoring pages, mounted by the platform at /loans/."""

from django.urls import path

from solutions.loans import views

app_name = "loans"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.results, name="results"),
    path("monitoring/", views.monitoring, name="monitoring"),
    path("monitoring/outcomes/", views.upload_outcomes, name="outcomes"),
    path("policy/", views.policy, name="policy"),
    path("model-card/", views.model_card, name="model-card"),
]
