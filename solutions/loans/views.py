"""Browser pages of loan scoring: portfolio upload, results, monitoring, policy and model cards.

Every page needs a signed-in tenant member; changing the policy needs a tenant admin. Lookups go
through the tenant-scoped managers, so another tenant's job answers 404.
"""

import csv
import io
from collections import Counter

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected, create_job
from quorum.web.views import member_required
from solutions.loans import charts, monitoring_service, services
from solutions.loans.forms import LoanPolicyForm, OutcomeUploadForm, PortfolioUploadForm, WindowForm
from solutions.loans.models import LoanPolicy, ScoredApplication, ScoringModel

RESULTS_PER_PAGE = 50
RECENT_JOBS = 10


@member_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Upload a portfolio (starts a batch job) and see the recent loan jobs."""
    form = PortfolioUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = create_job(tenant=request.tenant, user=request.user, solution="loans",
                             files=[form.cleaned_data["file"]], params={"model": form.cleaned_data["model"]},
                             request=request)
        except UploadRejected as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, "Portfolio uploaded: scoring has started.")
            return redirect("loans:results", job_id=job.pk)
    jobs = Job.objects.filter(solution="loans").order_by("-created_at")[:RECENT_JOBS]
    return render(request, "loans/index.html", {"form": form, "jobs": jobs, "models": ScoringModel.choices})


@member_required
def results(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's grade distribution, decisions and every application with its reasons or errors."""
    job = get_object_or_404(Job.objects.filter(solution="loans"), pk=job_id)
    rows = ScoredApplication.objects.filter(job=job).order_by("index")
    wanted = request.GET.get("status")
    if wanted in ("scored", "error"):
        rows = rows.filter(status=wanted)
    page = Paginator(rows, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    summary = job.result_summary or {}
    grades = summary.get("grades", {})
    grade_chart = charts.bar_chart(sorted(grades.items()), title="Applications per grade") if grades else None
    decisions = Counter(summary.get("decisions", {}))
    return render(request, "loans/results.html", {
        "job": job, "page": page, "summary": summary, "grade_chart": grade_chart,
        "decisions": [(d, decisions.get(d, 0)) for d in ("approve", "refer", "decline")], "status": wanted or "",
    })


@member_required
def monitoring(request: HttpRequest) -> HttpResponse:
    """PSI per feature and of the PD, fairness by protected attribute, and calibration."""
    form = WindowForm(request.GET or {"model": ScoringModel.GERMAN, "days": monitoring_service.DEFAULT_WINDOW_DAYS})
    context: dict = {"form": form, "outcome_form": OutcomeUploadForm()}
    if form.is_valid():
        model_name = form.cleaned_data["model"]
        try:
            scorer = services.get_scorer(model_name)
        except LookupError:
            context["missing_model"] = model_name
            return render(request, "loans/monitoring.html", context)
        report = monitoring_service.monitoring_report(scorer, model_name, form.cleaned_data["days"])
        context["report"] = report
        stability = report.get("stability")
        if stability:
            features = stability["features"]
            context["psi_chart"] = charts.bar_chart(
                [(f["feature"], f["psi"]) for f in features], title="PSI per feature", value_format="{:.3f}",
                flagged={f["feature"] for f in features if f["status"] == "shift"}, threshold=0.25)
            context["pd_chart"] = charts.paired_bar_chart(
                stability["pd"]["bins"], stability["pd"]["expected"], stability["pd"]["actual"], title="PD distribution")
            context["top_shifts"] = [
                {**f, "chart": charts.paired_bar_chart(f["bins"], f["expected"], f["actual"], title=f["label"])}
                for f in features[:3]
            ]
        context["fairness"] = [
            {**item, "chart": charts.bar_chart(
                [(g["group"], g["approval_rate"] * 100) for g in item["groups"]], title=f"Approval rate by {item['label']}",
                value_format="{:.0f} %", flagged={g["group"] for g in item["groups"] if g["flagged"]})}
            for item in report["fairness"]
        ]
    return render(request, "loans/monitoring.html", context)


@member_required
@require_POST
def upload_outcomes(request: HttpRequest) -> HttpResponse:
    """Outcomes CSV (application_id, defaulted) for calibration monitoring."""
    form = OutcomeUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file of outcomes.")
        return redirect("loans:monitoring")
    pairs, problems = [], []
    try:
        text = io.TextIOWrapper(form.cleaned_data["file"], encoding="utf-8-sig")
        for line, row in enumerate(csv.DictReader(text), start=2):
            try:
                pairs.append((int(row["application_id"]), str(row["defaulted"]).strip() in ("1", "true", "True", "yes")))
            except (KeyError, TypeError, ValueError):
                problems.append(f"line {line}: needs application_id (a number) and defaulted (1 or 0)")
    except (UnicodeDecodeError, csv.Error) as exc:
        messages.error(request, f"The file is not a readable CSV: {exc}")
        return redirect("loans:monitoring")
    saved, errors = services.record_outcomes(tenant=request.tenant, user=request.user, outcomes=pairs, request=request)
    messages.success(request, f"Saved {saved} outcomes.")
    for problem in (problems + errors)[:10]:
        messages.warning(request, problem)
    return redirect("loans:monitoring")


@member_required
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest) -> HttpResponse:
    """The tenant's credit policy; tenant admins can change it."""
    current = LoanPolicy.objects.filter(tenant=request.tenant).first()
    initial = {} if current else dict(services.policy_for(request.tenant).__dict__)
    form = LoanPolicyForm(request.POST or None, instance=current, initial=initial)
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only a tenant admin can change the credit policy.")
        if form.is_valid():
            services.save_policy(tenant=request.tenant, user=request.user,
                                 values={name: form.cleaned_data[name] for name in LoanPolicyForm.Meta.fields}, request=request)
            messages.success(request, "Credit policy saved; it applies to applications scored from now on.")
            return redirect("loans:policy")
    return render(request, "loans/policy.html", {"form": form, "can_edit": request.membership.is_admin})


@member_required
def model_card(request: HttpRequest) -> HttpResponse:
    """A model's card (data, split, metrics, limitations) and its feature schema (?model=)."""
    model_name = request.GET.get("model", ScoringModel.GERMAN)
    if model_name not in ScoringModel.values:
        raise Http404("No such scoring model.")
    try:
        scorer = services.get_scorer(model_name)
    except LookupError:
        scorer = None
    return render(request, "loans/model_card.html", {"model_name": model_name, "scorer": scorer,
                                                     "title": ScoringModel(model_name).label})
