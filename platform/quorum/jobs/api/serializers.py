"""How a job reads over the API: status, progress, results, a readable error, and links."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from quorum.jobs.models import Job, JobFile
from quorum.jobs.webhooks import job_links


class JobFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobFile
        fields = ["id", "name", "size", "content_type", "created_at"]
        read_only_fields = fields


class JobLinksSerializer(serializers.Serializer):
    self = serializers.CharField(allow_null=True)
    cancel = serializers.CharField(allow_null=True)
    result = serializers.CharField(allow_null=True, help_text="The solution's result page.")


class JobSerializer(serializers.ModelSerializer):
    message = serializers.CharField(source="progress_message", read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "solution",
            "status",
            "progress",
            "message",
            "params",
            "result_summary",
            "error",
            "attempts",
            "cancel_requested",
            "adapter_version_id",
            "created_at",
            "started_at",
            "finished_at",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(JobLinksSerializer)
    def get_links(self, job: Job) -> dict[str, Any]:
        return job_links(job)


class JobDetailSerializer(JobSerializer):
    files = JobFileSerializer(many=True, read_only=True)

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "files"]
        read_only_fields = fields
