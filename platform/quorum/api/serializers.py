"""Serializers of the tenant-settings endpoints: the tenant, API keys, webhooks, audit events."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from quorum.audit.models import AuditEvent
from quorum.jobs.models import WebhookDelivery, WebhookEndpoint
from quorum.jobs.services import validate_webhook_url
from quorum.tenancy.models import ApiKey


class TenantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    role = serializers.CharField(allow_null=True, help_text="Your role; null for an API key.")
    api_key = serializers.CharField(
        allow_null=True, help_text="The API key's name, if one is used."
    )


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class CreatedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The raw key. Shown in this response only; store it now."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "active", "events", "created_at"]
        read_only_fields = ["id", "active", "events", "created_at"]

    def validate_url(self, value: str) -> str:
        try:
            return validate_webhook_url(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error


class CreatedWebhookEndpointSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (Standard Webhooks). Shown in this response only.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "job",
            "status",
            "attempts",
            "status_code",
            "error",
            "attempt_log",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "ip_address",
            "detail",
        ]
        read_only_fields = fields
