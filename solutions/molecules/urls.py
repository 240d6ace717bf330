"""Molecule screening pages, mounted by the platform at /molecules/."""

from django.urls import path

from solutions.molecules import views

app_name = "molecules"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.results, name="results"),
    path("jobs/<uuid:job_id>/molecules/<int:index>/", views.molecule, name="molecule"),
    path("jobs/<uuid:job_id>/search/", views.search, name="search"),
    path("jobs/<uuid:job_id>/export.<str:kind>", views.export, name="export"),
]
