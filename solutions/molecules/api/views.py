"""Molecule screening API: start a job; read, filter, sort, search and export its results.

Every lookup goes through the tenant-scoped managers, so another tenant's job answers 404.
"""

from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.api.idempotency import idempotent
from quorum.jobs.api.serializers import JobSerializer
from quorum.jobs.services import UploadRejected
from solutions.molecules import exports, queries, services
from solutions.molecules.api.serializers import (
    ScreeningJobCreateSerializer,
    ScreeningResultSerializer,
    SearchHitSerializer,
)
from solutions.molecules.depict import molecule_svg
from solutions.molecules.models import ScreeningResult
from solutions.molecules.tasks import ENDPOINT_KEYS

FILTER_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=["ok", "error"]),
    OpenApiParameter("duplicate", OpenApiTypes.STR, enum=["true", "false"]),
    *[OpenApiParameter(rule, OpenApiTypes.STR, enum=["pass", "fail"]) for rule in queries.RULES],
    OpenApiParameter(
        "alert", OpenApiTypes.STR,
        description="any, none, PAINS, PAINS_A, PAINS_B, PAINS_C, BRENK, NIH or an alert name",
    ),
    OpenApiParameter("q", OpenApiTypes.STR, description="Name contains."),
    OpenApiParameter(
        "sort", OpenApiTypes.STR,
        description="index, name, a descriptor (mw, clogp, qed, ...) or a prediction "
        "(esol, bbbp, tox21_NR-AR, ...); prefix '-' for descending.",
    ),
    OpenApiParameter(
        "min_<property>", OpenApiTypes.NUMBER,
        description="Lower bound on a descriptor or prediction, e.g. min_qed=0.5, max_mw=500.",
    ),
]  # fmt: skip


def job_results(request: Request, job_id: str) -> QuerySet[ScreeningResult]:
    """The job's results with the request's filters and sort applied (400 on a bad parameter)."""
    job = services.screening_job(job_id)
    rows = ScreeningResult.objects.filter(job=job)
    try:
        rows = queries.filter_results(rows, request.query_params, ENDPOINT_KEYS)
        return queries.order_results(rows, request.query_params.get("sort"), ENDPOINT_KEYS)
    except queries.QueryError as exc:
        raise ValidationError({"query": [str(exc)]}) from None


class ScreeningJobCreateView(APIView):
    """Start a screening job: files (multipart, field `files`) and/or a JSON list `molecules`."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(request=ScreeningJobCreateSerializer, responses={201: JobSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        data = request.data
        if hasattr(data, "getlist"):  # multipart: several files under one name
            data = {key: data.get(key) for key in data if key != "files"} | {
                "files": data.getlist("files")
            }
        serializer = ScreeningJobCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        try:
            job = services.start_screening(
                tenant=request._request.tenant,
                user=request.user,
                files=fields.get("files", []),
                molecules=fields.get("molecules"),
                smiles_column=fields.get("smiles_column", ""),
                name_column=fields.get("name_column", ""),
                canonical_tautomer=fields["canonical_tautomer"],
                api_key=getattr(request._request, "api_key", None),
                request=request._request,
            )
        except UploadRejected as exc:
            raise ValidationError({"files": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class ResultPagination(PageNumberPagination):
    # Result rows never change after the job, so numbered pages over any sort order are stable.
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(parameters=FILTER_PARAMETERS)
class ResultListView(generics.ListAPIView):
    """A job's molecules (input order by default), filtered and sorted by any property."""

    serializer_class = ScreeningResultSerializer
    pagination_class = ResultPagination

    def get_queryset(self) -> QuerySet[ScreeningResult]:
        return job_results(self.request, self.kwargs["job_id"]).defer("fingerprint")


class ResultDetailView(APIView):
    """One molecule of a job by its input index."""

    @extend_schema(responses={200: ScreeningResultSerializer})
    def get(self, request: Request, job_id: str, index: int) -> Response:
        job = services.screening_job(job_id)
        row = get_object_or_404(ScreeningResult.objects.filter(job=job), index=index)
        return Response(ScreeningResultSerializer(row).data)


class DepictionView(APIView):
    """The molecule's 2D structure as SVG, its alert atoms highlighted."""

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: str, index: int) -> HttpResponse:
        job = services.screening_job(job_id)
        row = get_object_or_404(ScreeningResult.objects.filter(job=job), index=index)
        atoms = sorted({i for alert in row.alerts for i in alert["atoms"]})
        return HttpResponse(molecule_svg(row.canonical_smiles, atoms), content_type="image/svg+xml")


class SimilaritySearchView(APIView):
    """Molecules of the job most similar to `smiles` (Tanimoto on Morgan fingerprints)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("smiles", OpenApiTypes.STR, required=True),
            OpenApiParameter("threshold", OpenApiTypes.NUMBER, description="0-1, default 0.4"),
        ],
        responses={200: SearchHitSerializer(many=True)},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = services.screening_job(job_id)
        smiles = request.query_params.get("smiles", "")
        try:
            threshold = float(request.query_params.get("threshold", "0.4"))
            hits = queries.similarity_search(
                ScreeningResult.objects.filter(job=job), smiles, threshold
            )
        except ValueError as exc:
            raise ValidationError({"smiles": [str(exc)]}) from None
        return Response({"count": len(hits), "results": SearchHitSerializer(hits, many=True).data})


class SubstructureSearchView(APIView):
    """Molecules of the job that contain the SMARTS pattern."""

    @extend_schema(
        parameters=[OpenApiParameter("smarts", OpenApiTypes.STR, required=True)],
        responses={200: SearchHitSerializer(many=True)},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = services.screening_job(job_id)
        try:
            hits = queries.substructure_search(
                ScreeningResult.objects.filter(job=job), request.query_params.get("smarts", "")
            )
        except queries.QueryError as exc:
            raise ValidationError({"smarts": [str(exc)]}) from None
        return Response({"count": len(hits), "results": SearchHitSerializer(hits, many=True).data})


def export_response(
    rows: QuerySet[ScreeningResult], kind: str, job_id: str
) -> StreamingHttpResponse:
    """Stream the rows as CSV or SDF with every column."""
    rows = rows.iterator(chunk_size=1000)
    if kind == "csv":
        response = StreamingHttpResponse(exports.csv_lines(rows), content_type="text/csv")
    else:
        response = StreamingHttpResponse(
            exports.sdf_records(rows), content_type="chemical/x-mdl-sdfile"
        )
    response["Content-Disposition"] = f'attachment; filename="screening-{job_id}.{kind}"'
    return response


class ExportView(APIView):
    """All of a job's results (with the same filters and sort as the list) as CSV or SDF."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: str, kind: str) -> StreamingHttpResponse:
        if kind not in ("csv", "sdf"):
            raise Http404("exports are .csv or .sdf")
        return export_response(job_results(request, job_id), kind, str(job_id))
