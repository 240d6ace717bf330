"""Defect inspection API: start a job (multipart or raw bytes), read results, overlays, reviews.

Every lookup goes through the tenant-scoped managers, so another tenant's job answers 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, UnsupportedMediaType, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.api.idempotency import idempotent
from quorum.jobs.api.serializers import JobSerializer
from quorum.jobs.services import UploadRejected
from solutions.defects import services
from solutions.defects.api.serializers import (
    InspectionJobCreateSerializer,
    InspectionResultSerializer,
    ReviewCreateSerializer,
    ReviewSerializer,
)
from solutions.defects.imaging import MEDIA_TYPES
from solutions.defects.models import InspectionResult
from solutions.defects.overlay import overlay_png


class RawImageParser(BaseParser):
    """A line system's raw image body (Content-Type image/png, ...) as one uploaded file.

    The file name comes from the `filename` query parameter, else from the content type.
    """

    media_type = "image/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> MultiValueDict:
        content_type = (media_type or "").split(";")[0].strip().lower()
        if content_type not in MEDIA_TYPES:
            raise UnsupportedMediaType(content_type, f"send one of {', '.join(MEDIA_TYPES)}")
        limit = settings.QUORUM_MAX_UPLOAD_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if not body:
            raise ParseError("The request body is empty: send the image bytes.")
        if len(body) > limit:
            raise ParseError(f"The body is larger than the {limit // (1024 * 1024)} MiB upload limit.")
        request = (parser_context or {}).get("request")
        name = request.query_params.get("filename", "") if request is not None else ""
        name = name.rsplit("/", 1)[-1][:200] or MEDIA_TYPES[content_type]
        return MultiValueDict({"files": [SimpleUploadedFile(name, body, content_type=content_type)]})


class RawZipParser(RawImageParser):
    media_type = "application/zip"


class InspectionJobCreateView(APIView):
    """Start an inspection job: multipart files (field `files`), or one raw image/ZIP body."""

    parser_classes = [MultiPartParser, FormParser, RawImageParser, RawZipParser]

    @extend_schema(request=InspectionJobCreateSerializer, responses={201: JobSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        # An empty body parses to a plain dict (no files): the serializer then says files are required.
        files = request.data.getlist("files") if hasattr(request.data, "getlist") else []
        serializer = InspectionJobCreateSerializer(data={"files": files})
        serializer.is_valid(raise_exception=True)
        try:
            job = services.start_inspection(
                tenant=request._request.tenant, user=request.user,
                files=serializer.validated_data["files"],
                api_key=getattr(request._request, "api_key", None), request=request._request,
            )
        except UploadRejected as exc:
            raise ValidationError({"files": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class ResultPagination(PageNumberPagination):
    # Rows never change after the job, so numbered pages in input order are stable.
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def result_row(job_id: Any, index: int) -> InspectionResult:
    job = services.inspection_job(job_id)
    return get_object_or_404(InspectionResult.objects.filter(job=job).select_related("review"), index=index)


@extend_schema(parameters=[
    OpenApiParameter("decision", OpenApiTypes.STR, enum=["pass", "fail", "review"]),
    OpenApiParameter("defect_class", OpenApiTypes.STR),
    OpenApiParameter("status", OpenApiTypes.STR, enum=["ok", "error"]),
])
class ResultListView(generics.ListAPIView):
    """A job's images in input order; filter by decision, defect_class and status."""

    serializer_class = InspectionResultSerializer
    pagination_class = ResultPagination

    def get_queryset(self) -> QuerySet[InspectionResult]:
        job = services.inspection_job(self.kwargs["job_id"])
        rows = InspectionResult.objects.filter(job=job).select_related("review").order_by("index")
        for field in ("decision", "defect_class", "status"):
            value = self.request.query_params.get(field)
            if value:
                rows = rows.filter(**{field: value})
        return rows


class ResultDetailView(APIView):
    """One image of a job by its input index."""

    @extend_schema(responses={200: InspectionResultSerializer})
    def get(self, request: Request, job_id: str, index: int) -> Response:
        return Response(InspectionResultSerializer(result_row(job_id, index)).data)


class OverlayView(APIView):
    """The part with its heat map and boxes drawn on it, as PNG."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: str, index: int) -> HttpResponse:
        row = result_row(job_id, index)
        if row.status != InspectionResult.Status.OK:
            raise ValidationError({"index": [f"image {index} was not inspected: {row.error}"]})
        response = HttpResponse(overlay_png(row), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ReviewView(APIView):
    """An engineer's verdict on one image: confirm the model or correct decision and class."""

    @extend_schema(request=ReviewCreateSerializer, responses={200: ReviewSerializer})
    def post(self, request: Request, job_id: str, index: int) -> Response:
        row = result_row(job_id, index)
        if row.status != InspectionResult.Status.OK:
            raise ValidationError({"index": ["only inspected images can be reviewed"]})
        serializer = ReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.review_result(result=row, user=request.user, request=request._request, **serializer.validated_data)
        return Response(ReviewSerializer(item).data)
