"""Tenant endpoints of the API: who am I, API keys, webhook endpoints and their deliveries, audit.

Every query runs through the tenant-scoped managers, so another tenant's id answers 404.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.api.idempotency import idempotent
from quorum.api.permissions import IsTenantAdmin
from quorum.api.serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditEventSerializer,
    CreatedApiKeySerializer,
    CreatedWebhookEndpointSerializer,
    TenantSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
)
from quorum.audit.models import AuditEvent
from quorum.jobs import services as job_services
from quorum.jobs.models import WebhookDelivery, WebhookEndpoint
from quorum.tenancy import services as tenancy_services
from quorum.tenancy.models import ApiKey


class TenantView(APIView):
    """The tenant the credentials act for, and the caller's role in it."""

    @extend_schema(responses=TenantSerializer)
    def get(self, request: Request) -> Response:
        tenant = request._request.tenant
        membership = request._request.membership
        api_key = request._request.api_key
        data = {
            "id": tenant.pk,
            "name": tenant.name,
            "slug": tenant.slug,
            "role": membership.role if membership is not None else None,
            "api_key": api_key.name if api_key is not None else None,
        }
        return Response(TenantSerializer(data).data)


class ApiKeyListView(generics.ListAPIView):
    """The tenant's API keys (tenant admins). POST creates one and shows its raw key once."""

    permission_classes = [IsTenantAdmin]
    serializer_class = ApiKeySerializer

    def get_queryset(self) -> QuerySet[ApiKey]:
        return ApiKey.objects.select_related("created_by")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: CreatedApiKeySerializer})
    @idempotent(redact=("key",))
    def post(self, request: Request) -> Response:
        form = ApiKeyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        api_key, raw_key = tenancy_services.create_api_key(
            request._request.tenant,
            request.user,
            form.validated_data["name"],
            request=request._request,
        )
        api_key.key = raw_key
        return Response(CreatedApiKeySerializer(api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(generics.RetrieveAPIView):
    permission_classes = [IsTenantAdmin]
    serializer_class = ApiKeySerializer
    lookup_url_kwarg = "api_key_id"
    lookup_field = "pk"

    def get_queryset(self) -> QuerySet[ApiKey]:
        return ApiKey.objects.select_related("created_by")


class ApiKeyRevokeView(APIView):
    """Revoke a key: requests with it answer 401 from now on."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request: Request, api_key_id: int) -> Response:
        api_key = get_object_or_404(ApiKey.objects.select_related("tenant"), pk=api_key_id)
        tenancy_services.revoke_api_key(api_key, request.user, request=request._request)
        return Response(ApiKeySerializer(api_key).data)


class WebhookEndpointListView(generics.ListAPIView):
    """The tenant's webhook endpoints (tenant admins). POST adds one and shows its secret once."""

    permission_classes = [IsTenantAdmin]
    serializer_class = WebhookEndpointSerializer

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.all()

    @extend_schema(
        request=WebhookEndpointSerializer, responses={201: CreatedWebhookEndpointSerializer}
    )
    @idempotent(redact=("secret",))
    def post(self, request: Request) -> Response:
        form = WebhookEndpointSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint, secret = job_services.create_webhook_endpoint(
            request._request.tenant,
            request.user,
            form.validated_data["url"],
            request=request._request,
        )
        endpoint.secret = secret
        return Response(
            CreatedWebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class WebhookEndpointDetailView(generics.RetrieveDestroyAPIView):
    permission_classes = [IsTenantAdmin]
    serializer_class = WebhookEndpointSerializer
    lookup_url_kwarg = "webhook_endpoint_id"
    lookup_field = "pk"

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.all()

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        job_services.delete_webhook_endpoint(
            instance, self.request.user, request=self.request._request
        )


class WebhookDeliveryListView(generics.ListAPIView):
    """The delivery log of one endpoint, newest first."""

    permission_classes = [IsTenantAdmin]
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        endpoint = get_object_or_404(
            WebhookEndpoint.objects.all(), pk=self.kwargs["webhook_endpoint_id"]
        )
        return WebhookDelivery.objects.filter(endpoint=endpoint)


class AuditEventListView(generics.ListAPIView):
    """The tenant's audit trail (tenant admins), newest first; `?action=job.create` filters."""

    permission_classes = [IsTenantAdmin]
    serializer_class = AuditEventSerializer

    def get_queryset(self) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.all()
        action = self.request.query_params.get("action")
        return events.filter(action=action) if action else events
