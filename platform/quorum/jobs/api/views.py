"""Job endpoints shared by every solution: list, detail and cancel.

Each solution creates its jobs at its own endpoint (/api/v1/<solution>/...); these read them.
Every query runs through the tenant-scoped manager, so another tenant's job answers 404.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.jobs import services
from quorum.jobs.api.serializers import JobDetailSerializer, JobSerializer
from quorum.jobs.models import Job, JobStatus


@extend_schema(
    parameters=[
        OpenApiParameter("solution", OpenApiTypes.STR, description="Only this solution's jobs."),
        OpenApiParameter(
            "status", OpenApiTypes.STR, enum=JobStatus.values, description="Only jobs in this state."
        ),
    ]
)
class JobListView(generics.ListAPIView):
    """The tenant's jobs, newest first, with cursor pagination."""

    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        jobs = Job.objects.all()
        solution = self.request.query_params.get("solution")
        if solution:
            jobs = jobs.filter(solution=solution)
        job_status = self.request.query_params.get("status")
        if job_status:
            if job_status not in JobStatus.values:
                raise ValidationError(
                    {"status": [f"Unknown status; use one of {', '.join(JobStatus.values)}."]}
                )
            jobs = jobs.filter(status=job_status)
        return jobs


class JobDetailView(generics.RetrieveAPIView):
    """One job: status, progress, message, result summary, error, files and links."""

    serializer_class = JobDetailSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self) -> QuerySet[Job]:
        return Job.objects.prefetch_related("files")


class JobAlreadyFinished(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "job_finished"


class JobCancelView(APIView):
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next step."""

    @extend_schema(request=None, responses={202: JobDetailSerializer})
    def post(self, request: Request, job_id: str) -> Response:
        job = get_object_or_404(Job.objects.all(), pk=job_id)
        if job.is_finished:
            raise JobAlreadyFinished(f"The job already {job.status}; there is nothing to cancel.")
        job = services.cancel_job(job, request.user, request=request._request)
        return Response(JobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)
