"""Browser URLs shared by every solution (namespace "web")."""

from django.contrib.auth import views as auth_views
from django.urls import path

from quorum.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tenant/switch/", views.switch_tenant, name="switch-tenant"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/progress/", views.job_progress, name="job-progress"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/<int:api_key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("settings/webhooks/", views.webhooks, name="webhooks"),
    path(
        "settings/webhooks/<int:webhook_endpoint_id>/delete/",
        views.webhook_delete,
        name="webhook-delete",
    ),
    path("audit/", views.audit, name="audit"),
]
