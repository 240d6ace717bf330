"""Contract review API: start a job, read findings / key terms / playbook results, review a
finding, export the report, read or change the playbook.

Every lookup goes through the tenant-scoped managers, so another tenant's job answers 404.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from quorum.api.idempotency import idempotent
from quorum.api.permissions import IsTenantAdmin, IsTenantMember
from quorum.jobs.api.serializers import JobSerializer
from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected, create_job
from solutions.contracts import report, services
from solutions.contracts.api.serializers import (
    ContractJobCreateSerializer,
    PlaybookSerializer,
    ReviewSerializer,
)
from solutions.contracts.models import ContractDocument, Finding
from solutions.contracts.playbook import InvalidPlaybook


def contract_job(job_id: str) -> Job:
    return get_object_or_404(Job.objects.filter(solution="contracts"), pk=job_id)


class ContractJobCreateView(APIView):
    """Start a review job for uploaded contracts (multipart field `files`)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ContractJobCreateSerializer, responses={201: JobSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        # An empty body parses to a plain dict (no files): the serializer then says files are required.
        files = request.data.getlist("files") if hasattr(request.data, "getlist") else []
        serializer = ContractJobCreateSerializer(data={"files": files})
        serializer.is_valid(raise_exception=True)
        try:
            job = create_job(tenant=request._request.tenant, user=request.user, solution="contracts",
                             files=serializer.validated_data["files"], api_key=getattr(request._request, "api_key", None),
                             request=request._request)
        except UploadRejected as exc:
            raise ValidationError({"files": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class DocumentSerializer(BaseSerializer):
    def to_representation(self, instance: ContractDocument) -> dict:
        return report.document_dict(instance)


class FileOrderPagination(CursorPagination):
    ordering = "index"
    page_size = 10
    page_size_query_param = "page_size"
    max_page_size = 50


@extend_schema_view(get=extend_schema(responses={200: OpenApiTypes.OBJECT}))
class DocumentResultsView(generics.ListAPIView):
    """A job's documents in upload order: findings with offsets, key terms, playbook results."""

    serializer_class = DocumentSerializer
    pagination_class = FileOrderPagination

    def get_queryset(self):
        job = contract_job(self.kwargs["job_id"])
        return ContractDocument.objects.filter(job=job).prefetch_related("findings", "key_terms", "playbook_results")


class ReportJsonView(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, job_id: str) -> Response:
        job = contract_job(job_id)
        response = Response(report.report_dict(job))
        response["Content-Disposition"] = f'attachment; filename="contracts-{job.pk}.json"'
        return response


class ReportCsvView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: str) -> HttpResponse:
        job = contract_job(job_id)
        response = HttpResponse(report.report_csv(job), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="contracts-{job.pk}.csv"'
        return response


class FindingReviewView(APIView):
    """Accept, reject or relabel a finding; stored as labelled data for adapter training."""

    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=ReviewSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, finding_id: int) -> Response:
        finding = get_object_or_404(Finding.objects.all(), pk=finding_id)
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = serializer.validated_data.get("category", "")
        if category and category not in services.get_categories():
            raise ValidationError({"category": [f"Unknown category {category!r}."]})
        services.review_finding(finding=finding, user=request.user, status=serializer.validated_data["status"],
                                category=category, request=request._request)
        return Response(report.finding_dict(finding))


class PlaybookView(APIView):
    """The tenant's playbook: members read it, tenant admins change it."""

    parser_classes = [JSONParser]

    def get_permissions(self) -> list:
        return [IsTenantAdmin()] if self.request.method == "PUT" else [IsTenantMember()]

    @extend_schema(responses={200: PlaybookSerializer})
    def get(self, request: Request) -> Response:
        return Response({"rules": services.rules_for(request._request.tenant)})

    @extend_schema(request=PlaybookSerializer, responses={200: PlaybookSerializer})
    def put(self, request: Request) -> Response:
        serializer = PlaybookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            saved = services.save_playbook(tenant=request._request.tenant, user=request.user,
                                           rules=serializer.validated_data["rules"], request=request._request)
        except InvalidPlaybook as exc:
            raise ValidationError({"rules": [str(exc)]}) from None
        return Response({"rules": saved.rules})
