"""Defect inspection pages, mounted by the platform at /defects/."""

from django.urls import path

from solutions.defects import views

app_name = "defects"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.results, name="results"),
    path("jobs/<uuid:job_id>/images/<int:index>/", views.result_detail, name="result"),
    path("jobs/<uuid:job_id>/images/<int:index>/overlay.png", views.overlay, name="overlay"),
    path("review/", views.review_queue, name="review-queue"),
    path("thresholds/", views.thresholds, name="thresholds"),
]
