"""Loan scoring API: real-time score, batch jobs and their results, policy, outcomes, monitoring.

Every lookup goes through the tenant-scoped managers, so another tenant's job answers 404.
"""

import csv
import io
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.adapters.services import active_version
from quorum.api.idempotency import idempotent
from quorum.api.permissions import IsTenantAdmin, IsTenantMember
from quorum.jobs.api.serializers import JobSerializer
from quorum.jobs.inline import run_inline_job
from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected, create_job
from solutions.loans import monitoring_service, services
from solutions.loans.api.serializers import (
    BatchCreateSerializer,
    LoanPolicySerializer,
    OutcomeSerializer,
    ScoredApplicationSerializer,
    ScoreResponseSerializer,
)
from solutions.loans.models import LoanPolicy, ScoredApplication, ScoringModel


def _model_name(request: Request) -> str:
    name = request.query_params.get("model", ScoringModel.GERMAN)
    if name not in ScoringModel.values:
        raise ValidationError({"model": [f"Unknown scoring model {name!r}; choose one of {', '.join(ScoringModel.values)}."]})
    return name


def _scorer(model_name: str):
    try:
        return services.get_scorer(model_name)
    except LookupError:
        raise NotFound(f"The {model_name} scoring model is not installed on this server.") from None


class ScoreView(APIView):
    """Score one application in real time; the response holds PD, score, grade, decision, reasons.

    The body is the application itself (field: value, as in the model's schema); `?model=` picks
    the scoring model. A bad application answers 400 with one message per field. The scoring
    is still recorded as a job (and a result row) for the audit trail.
    """

    parser_classes = [JSONParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter("model", OpenApiTypes.STR, enum=ScoringModel.values)],
        responses={200: ScoreResponseSerializer},
    )
    def post(self, request: Request) -> Response:
        model_name = _model_name(request)
        scorer = _scorer(model_name)
        application = request.data
        clean, errors = scorer.schema.validate(services.split_reference(application)[0])
        if errors:
            raise ValidationError(errors)
        tenant = request._request.tenant
        policy = services.policy_for(tenant)
        adapter_id = services.adapter_id_for(active_version(tenant, "loans"), model_name)
        score = scorer.score([clean], policy, adapter_id)[0]
        rows: list[ScoredApplication] = []

        def record_result(job: Job) -> dict:
            row = services.result_row(job=job, index=0, model_name=model_name, application=application, errors={}, score=score)
            row.save()
            rows.append(row)
            if adapter_id is not None:  # the audit trail says which tenant model answered
                job.adapter_version_id = adapter_id
                job.save(update_fields=["adapter_version_id"])
            return {"model": model_name, "applications": 1, "scored": 1, "errors": 0,
                    "grades": {score.grade: 1}, "decisions": {score.decision: 1}}

        job = run_inline_job(
            tenant=request._request.tenant, user=request.user, solution="loans", work=record_result,
            params={"model": model_name, "real_time": True}, api_key=getattr(request._request, "api_key", None),
            request=request._request,
        )
        body = {"job_id": job.pk, "application_id": rows[0].pk, "model": model_name, "adapter_version": adapter_id,
                **score.to_dict()}
        return Response(ScoreResponseSerializer(body).data)


class BatchJobCreateView(APIView):
    """Start a batch job: CSV/JSON files (multipart, field `files`) or a JSON list `applications`."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(request=BatchCreateSerializer, responses={201: JobSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        data = request.data
        if hasattr(data, "getlist"):  # multipart: several files under one name
            data = {"model": data.get("model", ScoringModel.GERMAN), "files": data.getlist("files")}
        serializer = BatchCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        files = list(serializer.validated_data.get("files", []))
        if serializer.validated_data.get("applications"):
            body = json.dumps(serializer.validated_data["applications"]).encode()
            files.append(SimpleUploadedFile("applications.json", body, content_type="application/json"))
        try:
            job = create_job(
                tenant=request._request.tenant, user=request.user, solution="loans", files=files,
                params={"model": serializer.validated_data["model"]},
                api_key=getattr(request._request, "api_key", None), request=request._request,
            )
        except UploadRejected as exc:
            raise ValidationError({"files": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class InputOrderPagination(CursorPagination):
    ordering = "index"
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=["scored", "error"])])
class JobResultsView(generics.ListAPIView):
    """A job's applications in input order: scored rows and error rows with per-field errors."""

    serializer_class = ScoredApplicationSerializer
    pagination_class = InputOrderPagination

    def get_queryset(self):
        job = get_object_or_404(Job.objects.filter(solution="loans"), pk=self.kwargs["job_id"])
        rows = ScoredApplication.objects.filter(job=job)
        wanted = self.request.query_params.get("status")
        return rows.filter(status=wanted) if wanted else rows


EXPORT_COLUMNS = ["index", "application_id", "status", "pd", "score", "grade", "decision", "reasons", "errors"]


class JobResultsExportView(APIView):
    """A job's results as CSV, in input order: one line per input application."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: str) -> StreamingHttpResponse:
        job = get_object_or_404(Job.objects.filter(solution="loans"), pk=job_id)
        rows = ScoredApplication.objects.filter(job=job).order_by("index")

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(EXPORT_COLUMNS)
            for row in rows.iterator(chunk_size=1000):
                reference = row.input.get("application_id", "") if isinstance(row.input, dict) else ""
                writer.writerow([
                    row.index, reference, row.status, row.pd if row.pd is not None else "", row.score if row.score is not None else "",
                    row.grade, row.decision, " | ".join(r["text"] for r in row.reasons),
                    " | ".join(f"{field}: {m}" for field, messages in row.errors.items() for m in messages),
                ])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            yield buffer.getvalue()

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="loans-{job.pk}.csv"'
        return response


class PolicyView(APIView):
    """The tenant's credit policy: members read it, tenant admins change it."""

    def get_permissions(self) -> list:
        return [IsTenantAdmin()] if self.request.method in ("PUT", "PATCH") else [IsTenantMember()]

    @extend_schema(responses={200: LoanPolicySerializer})
    def get(self, request: Request) -> Response:
        tenant = request._request.tenant
        saved = LoanPolicy.objects.filter(tenant=tenant).first()
        # updated_at is null while the tenant runs on the default policy.
        updated_at = saved.updated_at if saved else None
        return Response({**services.policy_for(tenant).__dict__, "updated_at": updated_at})

    @extend_schema(request=LoanPolicySerializer, responses={200: LoanPolicySerializer})
    def put(self, request: Request) -> Response:
        serializer = LoanPolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.save_policy(tenant=request._request.tenant, user=request.user,
                                      values=serializer.validated_data, request=request._request)
        return Response(LoanPolicySerializer(policy).data)


class OutcomeUploadView(APIView):
    """Observed outcomes of scored applications (JSON list of {application_id, defaulted})."""

    @extend_schema(request=OutcomeSerializer(many=True), responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        serializer = OutcomeSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        saved, errors = services.record_outcomes(
            tenant=request._request.tenant, user=request.user, request=request._request,
            outcomes=[(item["application_id"], item["defaulted"]) for item in serializer.validated_data],
        )
        return Response({"saved": saved, "errors": errors})


class MonitoringView(APIView):
    """PSI, calibration and fairness of a model over the tenant's recent applications."""

    @extend_schema(
        parameters=[OpenApiParameter("model", OpenApiTypes.STR, enum=ScoringModel.values),
                    OpenApiParameter("days", OpenApiTypes.INT, description="Window of recent applications (default 30).")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        model_name = _model_name(request)
        try:
            days = int(request.query_params.get("days", monitoring_service.DEFAULT_WINDOW_DAYS))
        except ValueError:
            raise ValidationError({"days": ["A whole number of days."]}) from None
        if not 1 <= days <= 3650:
            raise ValidationError({"days": ["Between 1 and 3650 days."]})
        return Response(monitoring_service.monitoring_report(_scorer(model_name), model_name, days))
