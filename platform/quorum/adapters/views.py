"""Browser pages of tenant adapters at /adapters/.

Every member sees which adapter each solution uses; tenant admins manage datasets, training,
versions, activation, rollback, import and export. Lookups go through the tenant-scoped
managers, so another tenant's ids answer 404.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from quorum.adapters import services
from quorum.adapters.charts import loss_curve_svg
from quorum.adapters.forms import DatasetForm, ImportForm, RollbackForm, TrainingForm
from quorum.adapters.models import ActiveAdapter, AdapterDataset, AdapterTrainingRun, AdapterVersion
from quorum.jobs.services import QueueUnavailable
from quorum.web.views import admin_required, job_progress_context, member_required


@require_GET
@member_required
def index(request: HttpRequest) -> HttpResponse:
    active = {a.solution: a for a in ActiveAdapter.objects.select_related("version")}
    rows = [{"solution": s, "active": active.get(s.name)} for s in services.adapter_solutions()]
    context: dict[str, Any] = {"rows": rows, "is_admin": request.membership.is_admin}
    if request.membership.is_admin:
        context |= {
            "datasets": AdapterDataset.objects.all()[:50],
            "versions": AdapterVersion.objects.all()[:50],
            "runs": AdapterTrainingRun.objects.select_related("job", "dataset")[:20],
            "active_ids": {a.version_id for a in active.values() if a.version_id},
            "dataset_form": DatasetForm(),
            "import_form": ImportForm(),
            "rollback_form": RollbackForm(),
        }
    return render(request, "adapters/index.html", context)


@require_POST
@admin_required
def dataset_create(request: HttpRequest) -> HttpResponse:
    form = DatasetForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            dataset = services.create_dataset(
                tenant=request.tenant, user=request.user, solution=form.cleaned_data["solution"],
                base_model=form.cleaned_data["base_model"], name=form.cleaned_data["name"],
                filename=upload.name if upload else "", data=upload.read() if upload else None, request=request,
            )
        except services.AdapterRefused as error:
            messages.error(request, str(error))
        else:
            return redirect("adapters:dataset", adapter_dataset_id=dataset.pk)
    else:
        messages.error(request, "The dataset form has errors: " + "; ".join(
            f"{field}: {' '.join(errs)}" for field, errs in form.errors.items()))
    return redirect("adapters:index")


@require_http_methods(["GET", "POST"])
@admin_required
def dataset_detail(request: HttpRequest, adapter_dataset_id: str) -> HttpResponse:
    """The validation report and the training form."""
    dataset = get_object_or_404(AdapterDataset, pk=adapter_dataset_id)
    form = TrainingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.start_training(tenant=request.tenant, user=request.user, dataset=dataset,
                                          options=form.cleaned_data, request=request)
        except services.AdapterRefused as error:
            messages.error(request, str(error))
        except QueueUnavailable as error:
            messages.error(request, str(error.detail))
        else:
            return redirect("adapters:run", adapter_training_run_id=run.pk)
    context = {"dataset": dataset, "form": form, "holdout_size": len(dataset.holdout_indices),
               "label_counts": sorted(dataset.report.get("label_counts", {}).items())}
    return render(request, "adapters/dataset.html", context)


def _run_context(run: AdapterTrainingRun) -> dict[str, Any]:
    return job_progress_context(run.job) | {"run": run, "loss_svg": loss_curve_svg(run.loss_curve)}


@require_GET
@admin_required
def run_detail(request: HttpRequest, adapter_training_run_id: str) -> HttpResponse:
    run = get_object_or_404(AdapterTrainingRun.objects.select_related("job", "dataset", "version"),
                            pk=adapter_training_run_id)
    return render(request, "adapters/run.html", _run_context(run))


@require_GET
@admin_required
def run_progress(request: HttpRequest, adapter_training_run_id: str) -> HttpResponse:
    """The live part of the run page (progress and loss curve); htmx polls it until done."""
    run = get_object_or_404(AdapterTrainingRun.objects.select_related("job", "version"), pk=adapter_training_run_id)
    return render(request, "adapters/_run_progress.html", _run_context(run))


@require_GET
@admin_required
def version_detail(request: HttpRequest, adapter_version_id: str) -> HttpResponse:
    version = get_object_or_404(AdapterVersion, pk=adapter_version_id)
    active = ActiveAdapter.objects.filter(solution=version.solution).first()
    return render(request, "adapters/version.html", {
        "version": version, "is_active": bool(active and active.version_id == version.pk),
    })


@require_POST
@admin_required
def version_activate(request: HttpRequest, adapter_version_id: str) -> HttpResponse:
    version = get_object_or_404(AdapterVersion, pk=adapter_version_id)
    services.activate(tenant=request.tenant, user=request.user, version=version, request=request)
    messages.success(request, f"{version} is now active: new {version.solution} jobs use it.")
    return redirect("adapters:index")


@require_GET
@admin_required
def version_export(request: HttpRequest, adapter_version_id: str) -> HttpResponse:
    version = get_object_or_404(AdapterVersion, pk=adapter_version_id)
    response = HttpResponse(services.export_zip(version), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{version.solution}-adapter-v{version.number}.zip"'
    return response


@require_POST
@admin_required
def version_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a solution, a base model and a zip file to import.")
        return redirect("adapters:index")
    try:
        version = services.import_adapter(
            tenant=request.tenant, user=request.user, solution=form.cleaned_data["solution"],
            base_model=form.cleaned_data["base_model"], data=form.cleaned_data["file"].read(), request=request,
        )
    except services.AdapterRefused as error:
        messages.error(request, str(error))
        return redirect("adapters:index")
    messages.success(request, f"Imported {version}.")
    return redirect("adapters:version", adapter_version_id=version.pk)


@require_POST
@admin_required
def rollback(request: HttpRequest) -> HttpResponse:
    form = RollbackForm(request.POST)
    if form.is_valid():
        active = services.rollback(tenant=request.tenant, user=request.user,
                                   solution=form.cleaned_data["solution"], request=request)
        messages.success(request, f"Rolled back: {active.version or 'the base model'} is active.")
    return redirect("adapters:index")
