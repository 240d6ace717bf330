"""Contract review pages: upload, a job's documents, the document view with highlighted clauses
and the review panel, the printable report, and the tenant's playbook."""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from quorum.jobs.models import Job
from quorum.jobs.services import UploadRejected, create_job
from quorum.web.views import job_progress_context, member_required
from solutions.contracts import report, services
from solutions.contracts.forms import ContractUploadForm, PlaybookForm, ReviewForm
from solutions.contracts.highlight import category_hue, highlighted
from solutions.contracts.models import ContractDocument, Finding

RECENT_JOBS = 20


def contract_job(job_id: str) -> Job:
    return get_object_or_404(Job.objects.filter(solution="contracts"), pk=job_id)


@member_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Upload a contract; recent review jobs."""
    form = ContractUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = create_job(tenant=request.tenant, user=request.user, solution="contracts",
                             files=[form.cleaned_data["file"]], request=request)
        except UploadRejected as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, "Contract uploaded: the review has started.")
            return redirect("contracts:results", job_id=job.pk)
    jobs = Job.objects.filter(solution="contracts").order_by("-created_at")[:RECENT_JOBS]
    return render(request, "contracts/index.html", {"form": form, "jobs": jobs})


@member_required
def results(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's progress and its documents; a single readable document opens directly."""
    job = contract_job(job_id)
    documents = list(ContractDocument.objects.filter(job=job).order_by("index"))
    if len(documents) == 1 and documents[0].status == "analysed" and "list" not in request.GET:
        return redirect("contracts:document", job_id=job.pk, index=0)
    return render(request, "contracts/results.html", job_progress_context(job) | {"documents": documents})


def _category_legend(findings: list[Finding], categories: list[str]) -> list[dict]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.final_category, []).append(finding)
    return [{"category": name, "hue": category_hue(categories, name) // 10,
             "findings": sorted(items, key=lambda f: -f.score), "best": max(f.score for f in items)}
            for name, items in sorted(groups.items(), key=lambda kv: -max(f.score for f in kv[1]))]


@member_required
def document(request: HttpRequest, job_id: str, index: int) -> HttpResponse:
    """The document with highlighted clauses beside findings by category, key terms and playbook."""
    job = contract_job(job_id)
    doc = get_object_or_404(ContractDocument.objects.filter(job=job), index=index)
    findings = list(doc.findings.all())
    categories = services.get_categories()
    return render(request, "contracts/document.html", {
        "job": job, "document": doc, "text_html": highlighted(doc.text, findings, categories),
        "groups": _category_legend(findings, categories), "key_terms": doc.key_terms.all(),
        "playbook_results": doc.playbook_results.all(), "categories": categories,
        "accepted": sum(f.status == "accepted" for f in findings), "rejected": sum(f.status == "rejected" for f in findings),
    })


@member_required
@require_POST
def review(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Accept, reject or relabel one finding, then back to the document (or the htmx row)."""
    finding = get_object_or_404(Finding.objects.select_related("document"), pk=finding_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose accepted, rejected or proposed as the review status.")
    category = form.cleaned_data["category"]
    if category and category not in services.get_categories():
        messages.error(request, f"Unknown category {category!r}.")
    else:
        services.review_finding(finding=finding, user=request.user, status=form.cleaned_data["status"],
                                category=category, request=request)
    if request.headers.get("HX-Request"):
        return render(request, "contracts/_finding.html", {"finding": finding, "categories": services.get_categories()})
    return redirect(f"/contracts/jobs/{finding.document.job_id}/documents/{finding.document.index}/#finding-{finding.pk}")


@member_required
def report_page(request: HttpRequest, job_id: str) -> HttpResponse:
    """The readable report (prints well: the browser's print dialog makes the PDF)."""
    job = contract_job(job_id)
    return render(request, "contracts/report.html", {"job": job, "report": report.report_dict(job)})


@member_required
@require_http_methods(["GET", "POST"])
def playbook(request: HttpRequest) -> HttpResponse:
    """The tenant's playbook rules; tenant admins can change them."""
    rules = services.rules_for(request.tenant)
    form = PlaybookForm(request.POST or None, initial={"rules": json.dumps(rules, indent=2)})
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only a tenant admin can change the playbook.")
        if form.is_valid():
            services.save_playbook(tenant=request.tenant, user=request.user, rules=form.cleaned_data["rules"], request=request)
            messages.success(request, "Playbook saved; it applies to contracts analysed from now on.")
            return redirect("contracts:playbook")
    return render(request, "contracts/playbook.html", {"form": form, "can_edit": request.membership.is_admin, "rules": rules})
