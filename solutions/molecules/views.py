"""Browser pages of molecule screening: upload, results table, molecule page, searches.

Every page needs a signed-in tenant member. Lookups go through the tenant-scoped managers, so
another tenant's job answers 404.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected
from quorum.web.views import member_required
from solutions.molecules import queries, services
from solutions.molecules.api.views import export_response
from solutions.molecules.chemistry import ALERT_CATALOGS
from solutions.molecules.depict import molecule_svg, radar_svg
from solutions.molecules.forms import LibraryUploadForm, SimilarityForm, SubstructureForm
from solutions.molecules.models import ScreeningResult
from solutions.molecules.tasks import ENDPOINT_KEYS, ENDPOINTS

RESULTS_PER_PAGE = 25
RECENT_JOBS = 10
# Columns of the results table: (sort key, heading, where the value lives).
TABLE_DESCRIPTORS = (("mw", "MW"), ("clogp", "cLogP"), ("tpsa", "TPSA"), ("hbd", "HBD"),
                     ("hba", "HBA"), ("rotatable_bonds", "RotB"), ("fsp3", "Fsp3"),
                     ("aromatic_rings", "Ar rings"), ("qed", "QED"))  # fmt: skip
TABLE_PREDICTIONS = (("esol", "logS"), ("lipophilicity", "logD"), ("bbbp", "BBB"))


@member_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Upload a compound library (starts a screening job) and see the recent screening jobs."""
    form = LibraryUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.start_screening(
                tenant=request.tenant, user=request.user, files=[data["file"]],
                smiles_column=data["smiles_column"], name_column=data["name_column"],
                canonical_tautomer=data["canonical_tautomer"], request=request,
            )  # fmt: skip
        except UploadRejected as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, "Library uploaded: screening has started.")
            return redirect("web:job-detail", job_id=job.pk)
    jobs = Job.objects.filter(solution=services.SOLUTION).order_by("-created_at")[:RECENT_JOBS]
    return render(request, "molecules/index.html", {"form": form, "jobs": jobs})


def _with_range(params: QueryDict) -> dict[str, str]:
    """The page's one property range (range_property, range_min, range_max) as min_/max_ filters."""
    filters = params.dict()
    prop = filters.pop("range_property", "")
    for bound in ("min", "max"):
        value = filters.pop(f"range_{bound}", "")
        if prop and value:
            filters[f"{bound}_{prop}"] = value
    return filters


def _svg(text: str) -> str:
    # RDKit and our radar write the SVG ourselves from escaped values: safe to inline.
    return mark_safe(text)


@member_required
def results(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job's molecules with depictions, sortable and filterable by any property."""
    job = services.screening_job(job_id)
    rows = ScreeningResult.objects.filter(job=job).defer("fingerprint")
    error = ""
    try:
        rows = queries.filter_results(rows, _with_range(request.GET), ENDPOINT_KEYS)
        rows = queries.order_results(rows, request.GET.get("sort"), ENDPOINT_KEYS)
    except queries.QueryError as exc:
        error = str(exc)
        rows = ScreeningResult.objects.filter(job=job).order_by("index")
    page = Paginator(rows, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page:
        atoms = sorted({i for alert in row.alerts for i in alert["atoms"]})
        row.svg = (
            _svg(molecule_svg(row.canonical_smiles, atoms, size=140))
            if row.canonical_smiles
            else ""
        )
        row.table_descriptors = [row.descriptors.get(key) for key, _ in TABLE_DESCRIPTORS]
        row.table_predictions = [row.predictions.get(key) for key, _ in TABLE_PREDICTIONS]
    query = request.GET.copy()
    query.pop("page", None)
    filters = query.copy()
    filters.pop("sort", None)
    return render(request, "molecules/results.html", {
        "job": job, "page": page, "summary": job.result_summary or {}, "error": error,
        "descriptor_columns": TABLE_DESCRIPTORS, "prediction_columns": TABLE_PREDICTIONS,
        "query": query.urlencode(), "filters": filters.urlencode(),
        "sort": request.GET.get("sort", ""), "params": request.GET,
        "rule_filters": [(rule, request.GET.get(rule, "")) for rule in queries.RULES],
        "alert_choices": ("any", "none", "PAINS", *ALERT_CATALOGS),
        "properties": [*queries.DESCRIPTORS, *(key for key, _, _ in ENDPOINTS)],
        "similarity_form": SimilarityForm(), "substructure_form": SubstructureForm(),
    })  # fmt: skip


@member_required
def molecule(request: HttpRequest, job_id: str, index: int) -> HttpResponse:
    """One molecule: structure with alerts, descriptors, rules, radar and every prediction."""
    job = services.screening_job(job_id)
    row = get_object_or_404(ScreeningResult.objects.filter(job=job), index=index)
    atoms = sorted({i for alert in row.alerts for i in alert["atoms"]})
    predictions = [
        {"key": key, "task": task, "column": column, **row.predictions[key]}
        for key, task, column in ENDPOINTS
        if key in row.predictions
    ]
    return render(request, "molecules/molecule.html", {
        "job": job, "row": row, "predictions": predictions,
        "svg": _svg(molecule_svg(row.canonical_smiles, atoms, size=360)) if row.canonical_smiles else "",
        "radar": _svg(radar_svg(row.rules["radar"])) if row.rules else "",
        "alerts": [
            {**alert, "svg": _svg(molecule_svg(row.canonical_smiles, alert["atoms"], size=160))}
            for alert in row.alerts
        ],
    })  # fmt: skip


@member_required
def search(request: HttpRequest, job_id: str) -> HttpResponse:
    """Similarity (Tanimoto) or substructure (SMARTS) search within the job's molecules."""
    job = services.screening_job(job_id)
    rows = ScreeningResult.objects.filter(job=job)
    similarity_form = SimilarityForm(request.GET if "smiles" in request.GET else None)
    substructure_form = SubstructureForm(request.GET if "smarts" in request.GET else None)
    hits, error, kind = [], "", ""
    try:
        if similarity_form.is_bound and similarity_form.is_valid():
            kind = "similarity"
            data = similarity_form.cleaned_data
            hits = queries.similarity_search(rows, data["smiles"], data["threshold"])
        elif substructure_form.is_bound and substructure_form.is_valid():
            kind = "substructure"
            hits = queries.substructure_search(rows, substructure_form.cleaned_data["smarts"])
    except queries.QueryError as exc:
        error = str(exc)
    for hit in hits:
        hit.svg = _svg(molecule_svg(hit.row.canonical_smiles, size=140))
    return render(request, "molecules/search.html", {
        "job": job, "hits": hits, "error": error, "kind": kind,
        "similarity_form": similarity_form, "substructure_form": substructure_form,
    })  # fmt: skip


@member_required
def export(request: HttpRequest, job_id: str, kind: str) -> StreamingHttpResponse:
    """The job's results (with the page's filters and sort) as CSV or SDF."""
    if kind not in ("csv", "sdf"):
        raise Http404("exports are .csv or .sdf")
    job = services.screening_job(job_id)
    rows = ScreeningResult.objects.filter(job=job)
    try:
        rows = queries.filter_results(rows, _with_range(request.GET), ENDPOINT_KEYS)
        rows = queries.order_results(rows, request.GET.get("sort"), ENDPOINT_KEYS)
    except queries.QueryError as exc:
        messages.error(request, str(exc))
        return redirect("molecules:results", job_id=job.pk)
    return export_response(rows, kind, str(job.pk))
