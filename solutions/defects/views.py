"""Browser pages of defect inspection: upload, results grid with overlays and statistics,
one image with its review form, the review queue, and the threshold policy page.

Every page needs a signed-in tenant member (the threshold page saves for tenant admins only).
Lookups go through the tenant-scoped managers, so another tenant's job answers 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected
from quorum.web.views import member_required
from solutions.defects import services
from solutions.defects.charts import bar_chart_svg
from solutions.defects.datasets import CLASSES, DEFECT_CLASSES
from solutions.defects.forms import PolicyForm, ReviewForm, UploadForm, class_label
from solutions.defects.models import Decision, InspectionResult, ReviewItem
from solutions.defects.overlay import overlay_png

RESULTS_PER_PAGE = 24
RECENT_JOBS = 10


@member_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Upload images or ZIP archives (starts an inspection job) and see recent jobs."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.start_inspection(
                tenant=request.tenant, user=request.user, files=form.cleaned_data["files"], request=request
            )
        except UploadRejected as exc:
            form.add_error("files", str(exc))
        else:
            messages.success(request, "Images uploaded: inspection has started.")
            return redirect("web:job-detail", job_id=job.pk)
    jobs = Job.objects.filter(solution=services.SOLUTION).order_by("-created_at")[:RECENT_JOBS]
    pending = ReviewItem.objects.filter(status=ReviewItem.Status.PENDING).count()
    return render(request, "defects/index.html", {"form": form, "jobs": jobs, "pending": pending})


def batch_statistics(job: Job) -> dict:
    """Counts by decision and the defect rate (failed share of inspected images) by class."""
    rows = InspectionResult.objects.filter(job=job)
    decisions = dict(rows.values_list("decision").annotate(n=Count("id")).values_list("decision", "n"))
    inspected = sum(n for decision, n in decisions.items() if decision)
    failed = dict(
        rows.filter(decision=Decision.FAIL).values_list("defect_class").annotate(n=Count("id")).values_list("defect_class", "n")
    )
    chart_rows = [
        (class_label(name), failed.get(name, 0) / inspected if inspected else 0.0,
         f"{failed.get(name, 0)} ({100 * failed.get(name, 0) / inspected:.1f} %)" if inspected else "0")
        for name in DEFECT_CLASSES if failed.get(name)
    ]
    return {
        "inspected": inspected,
        "errors": rows.filter(status=InspectionResult.Status.ERROR).count(),
        "pass": decisions.get(Decision.PASS, 0), "fail": decisions.get(Decision.FAIL, 0),
        "review": decisions.get(Decision.REVIEW, 0),
        "defect_rate": (decisions.get(Decision.FAIL, 0) / inspected) if inspected else 0.0,
        "chart": bar_chart_svg(chart_rows) if chart_rows else "",
    }


@member_required
def results(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job's images as a grid of overlays, filtered by decision and class, with statistics."""
    job = services.inspection_job(job_id)
    rows = InspectionResult.objects.filter(job=job).order_by("index")
    decision = request.GET.get("decision", "")
    defect_class = request.GET.get("defect_class", "")
    if decision == "error":
        rows = rows.filter(status=InspectionResult.Status.ERROR)
    elif decision in Decision.values:
        rows = rows.filter(decision=decision)
    if defect_class in DEFECT_CLASSES:
        rows = rows.filter(defect_class=defect_class)
    page = Paginator(rows, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "defects/results.html", {
        "job": job, "page": page, "stats": batch_statistics(job), "query": query.urlencode(),
        "decision": decision, "defect_class": defect_class,
        "decisions": [*Decision.choices, ("error", "Error")],
        "classes": [(c, class_label(c)) for c in DEFECT_CLASSES],
    })


@member_required
@require_http_methods(["GET", "POST"])
def result_detail(request: HttpRequest, job_id: str, index: int) -> HttpResponse:
    """One image: overlay, probabilities, boxes, and the engineer's review form."""
    job = services.inspection_job(job_id)
    row = get_object_or_404(InspectionResult.objects.filter(job=job), index=index)
    review = ReviewItem.objects.filter(result=row).first()
    initial = {"decision": Decision.FAIL if row.decision != Decision.PASS else Decision.PASS,
               "defect_class": row.defect_class or "free"}
    form = ReviewForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if row.status != InspectionResult.Status.OK:
            raise PermissionDenied("Only inspected images can be reviewed.")
        if form.is_valid():
            services.review_result(result=row, user=request.user, request=request, **form.cleaned_data)
            messages.success(request, f"Review of {row.filename} saved.")
            next_item = ReviewItem.objects.filter(status=ReviewItem.Status.PENDING).select_related("result").first()
            if request.POST.get("next") == "queue" and next_item is not None:
                return redirect("defects:result", job_id=next_item.result.job_id, index=next_item.result.index)
            return redirect("defects:result", job_id=job.pk, index=index)
    probabilities = sorted(
        ((class_label(c), p) for c, p in row.class_probs.items()), key=lambda item: item[1], reverse=True
    )[:5]
    return render(request, "defects/result.html", {
        "job": job, "row": row, "review": review, "form": form, "probabilities": probabilities,
        "class_name": class_label(row.defect_class) if row.defect_class else "",
    })


@member_required
def overlay(request: HttpRequest, job_id: str, index: int) -> HttpResponse:
    """The overlay PNG for the browser (same picture as the API's)."""
    job = services.inspection_job(job_id)
    row = get_object_or_404(InspectionResult.objects.filter(job=job, status=InspectionResult.Status.OK), index=index)
    response = HttpResponse(overlay_png(row), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@member_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Borderline parts waiting for an engineer, oldest first, and the latest verdicts."""
    pending = ReviewItem.objects.filter(status=ReviewItem.Status.PENDING).select_related("result")
    done = ReviewItem.objects.exclude(status=ReviewItem.Status.PENDING).select_related("result").order_by("-reviewed_at")[:20]
    page = Paginator(pending, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "defects/review_queue.html", {"page": page, "done": done})


@member_required
@require_http_methods(["GET", "POST"])
def thresholds(request: HttpRequest) -> HttpResponse:
    """Set the target false-reject rate; preview escape and false-reject rates before saving."""
    policy = services.current_policy()
    initial = {"target_percent": round(100 * policy.target_false_reject_rate, 2), "review_margin": policy.review_margin}
    form = PolicyForm(request.POST or None, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["target_percent"] / 100.0
        saving = request.POST.get("action") == "save"
        if saving and not request.membership.is_admin:
            raise PermissionDenied("Only a tenant admin can change the inspection policy.")
        try:
            if saving:
                services.save_policy(tenant=request.tenant, user=request.user, target_false_reject_rate=target,
                                     review_margin=form.cleaned_data["review_margin"], request=request)
                messages.success(request, f"Policy saved: target false-reject rate {100 * target:.1f} %.")
                return redirect("defects:thresholds")
            preview = services.preview_thresholds(target)
        except FileNotFoundError:
            form.add_error(None, "The inspection model is not installed: run `manage.py train_base defects`.")
    shown = preview or policy
    rows = [(class_label(c), shown.thresholds.get(c, shown.default_threshold)) for c in DEFECT_CLASSES]
    return render(request, "defects/thresholds.html", {
        "form": form, "policy": policy, "preview": preview, "rows": rows,
        "saved": policy.pk is not None, "is_admin": request.membership.is_admin, "classes": CLASSES,
    })
