"""Tenant adapter endpoints under /api/v1/adapters/.

Everything but reading the active adapters needs a tenant admin's session (like API keys and
webhooks: a leaked key must not retrain or swap the models a tenant's jobs use). Objects are
looked up with the tenant-scoped managers, so another tenant's ids answer 404.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.adapters import services
from quorum.adapters.api.serializers import (
    ActiveAdapterSerializer,
    AdapterDatasetSerializer,
    AdapterTrainingRunSerializer,
    AdapterVersionSerializer,
    DatasetCreateSerializer,
    SolutionSerializer,
    TrainingCreateSerializer,
    VersionImportSerializer,
)
from quorum.adapters.models import ActiveAdapter, AdapterDataset, AdapterTrainingRun, AdapterVersion
from quorum.api.permissions import IsTenantAdmin


def refused(error: services.AdapterRefused) -> APIException:
    """The API error for a refused adapter request (400, or 429 for a quota)."""
    exc = APIException(str(error))
    exc.status_code = error.status_code
    return exc


class AdminView:
    permission_classes = [IsTenantAdmin]


class DatasetListView(AdminView, generics.ListCreateAPIView):
    """The tenant's adapter datasets; POST uploads one (or gathers the reviewed corrections)."""

    serializer_class = AdapterDatasetSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[AdapterDataset]:
        return AdapterDataset.objects.all()

    @extend_schema(request=DatasetCreateSerializer, responses={201: AdapterDatasetSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = DatasetCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data.get("file")
        try:
            dataset = services.create_dataset(
                tenant=request.tenant, user=request.user, solution=form.validated_data["solution"],
                base_model=form.validated_data["base_model"], name=form.validated_data["name"],
                filename=upload.name if upload else "", data=upload.read() if upload else None,
                request=request._request,
            )
        except services.AdapterRefused as error:
            raise refused(error) from None
        return Response(AdapterDatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(AdminView, generics.RetrieveAPIView):
    serializer_class = AdapterDatasetSerializer
    lookup_url_kwarg = "adapter_dataset_id"

    def get_queryset(self) -> QuerySet[AdapterDataset]:
        return AdapterDataset.objects.all()


class TrainingRunListView(AdminView, generics.ListCreateAPIView):
    """Adapter training runs; POST starts one on a dataset (a job on the training queue)."""

    serializer_class = AdapterTrainingRunSerializer

    def get_queryset(self) -> QuerySet[AdapterTrainingRun]:
        return AdapterTrainingRun.objects.select_related("job")

    @extend_schema(request=TrainingCreateSerializer, responses={202: AdapterTrainingRunSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = TrainingCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        dataset = get_object_or_404(AdapterDataset, pk=form.validated_data["dataset"])
        try:
            run = services.start_training(tenant=request.tenant, user=request.user, dataset=dataset,
                                          options=form.validated_data["options"], request=request._request)
        except services.AdapterRefused as error:
            raise refused(error) from None
        return Response(AdapterTrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailView(AdminView, generics.RetrieveAPIView):
    serializer_class = AdapterTrainingRunSerializer
    lookup_url_kwarg = "adapter_training_run_id"

    def get_queryset(self) -> QuerySet[AdapterTrainingRun]:
        return AdapterTrainingRun.objects.select_related("job")


class VersionListView(AdminView, generics.ListAPIView):
    """Every adapter version of the tenant, with adapter and base metrics side by side."""

    serializer_class = AdapterVersionSerializer

    def get_queryset(self) -> QuerySet[AdapterVersion]:
        return AdapterVersion.objects.all()


class VersionDetailView(AdminView, generics.RetrieveAPIView):
    serializer_class = AdapterVersionSerializer
    lookup_url_kwarg = "adapter_version_id"

    def get_queryset(self) -> QuerySet[AdapterVersion]:
        return AdapterVersion.objects.all()


class VersionActivateView(AdminView, APIView):
    """Make this version the one new jobs of its solution use."""

    @extend_schema(request=None, responses={200: ActiveAdapterSerializer})
    def post(self, request: Request, adapter_version_id: str) -> Response:
        version = get_object_or_404(AdapterVersion, pk=adapter_version_id)
        active = services.activate(tenant=request.tenant, user=request.user, version=version, request=request._request)
        return Response(ActiveAdapterSerializer(active).data)


class VersionExportView(AdminView, APIView):
    """The version in PEFT format: a zip of adapter_config.json and adapter_model.safetensors."""

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request: Request, adapter_version_id: str) -> HttpResponse:
        version = get_object_or_404(AdapterVersion, pk=adapter_version_id)
        response = HttpResponse(services.export_zip(version), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{version.solution}-adapter-v{version.number}.zip"'
        return response


class VersionImportView(AdminView, APIView):
    """Import an adapter trained elsewhere; checked against the base model, never unpickled."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=VersionImportSerializer, responses={201: AdapterVersionSerializer})
    def post(self, request: Request) -> Response:
        form = VersionImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            version = services.import_adapter(
                tenant=request.tenant, user=request.user, solution=form.validated_data["solution"],
                base_model=form.validated_data["base_model"], data=form.validated_data["file"].read(),
                request=request._request,
            )
        except services.AdapterRefused as error:
            raise refused(error) from None
        return Response(AdapterVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class ActiveListView(generics.ListAPIView):
    """The active adapter per solution (members may read it; only admins change it)."""

    serializer_class = ActiveAdapterSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[ActiveAdapter]:
        return ActiveAdapter.objects.select_related("version").order_by("solution")


class RollbackView(AdminView, APIView):
    """Go back to the version active before the last change of a solution's adapter."""

    @extend_schema(request=SolutionSerializer, responses={200: ActiveAdapterSerializer})
    def post(self, request: Request) -> Response:
        form = SolutionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            services.hooks_for(form.validated_data["solution"])
        except services.AdapterRefused as error:
            raise refused(error) from None
        active = services.rollback(tenant=request.tenant, user=request.user,
                                   solution=form.validated_data["solution"], request=request._request)
        return Response(ActiveAdapterSerializer(active).data)
