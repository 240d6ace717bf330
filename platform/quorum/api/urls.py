"""The /api/v1/ URLconf: jobs, tenant settings, the schema and docs, and every solution's API.

Each registered solution's `api_urls` module is mounted at /api/v1/<solution name>/.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from quorum.api import views
from solutions import registry

app_name = "api"

urlpatterns = [
    path("", include("quorum.jobs.api.urls")),
    path("tenant/", views.TenantView.as_view(), name="tenant"),
    path("api-keys/", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<int:api_key_id>/", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path(
        "api-keys/<int:api_key_id>/revoke/",
        views.ApiKeyRevokeView.as_view(),
        name="api-key-revoke",
    ),
    path(
        "webhook-endpoints/", views.WebhookEndpointListView.as_view(), name="webhook-endpoint-list"
    ),
    path(
        "webhook-endpoints/<int:webhook_endpoint_id>/",
        views.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<int:webhook_endpoint_id>/deliveries/",
        views.WebhookDeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    path("audit-events/", views.AuditEventListView.as_view(), name="audit-event-list"),
    path("adapters/", include("quorum.adapters.api.urls")),
    # The schema and its docs are public and work offline (Swagger UI from the sidecar package).
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api:schema", permission_classes=[AllowAny], authentication_classes=[]
        ),
        name="docs",
    ),
    *[
        path(f"{solution.name}/", include(solution.api_urls))
        for solution in registry.all_solutions()
        if solution.api_urls
    ],
]
