"""Browser pages shared by every solution: dashboard, jobs, API keys, webhooks, audit trail.

Every page needs a signed-in member of a tenant (anonymous visitors go to the login page);
settings pages need a tenant admin (403 otherwise). Queries go through the tenant-scoped
managers, so another tenant's job id answers 404.
"""

from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found as default_page_not_found
from django.views.defaults import server_error as default_server_error

from quorum.api.errors import is_api_request, problem_json_response
from quorum.audit.models import AuditEvent
from quorum.jobs import services as job_services
from quorum.jobs.models import TERMINAL_STATUSES, Job, JobStatus, WebhookDelivery, WebhookEndpoint
from quorum.tenancy import services as tenancy_services
from quorum.tenancy.middleware import SESSION_TENANT_KEY
from quorum.tenancy.models import ApiKey, Membership
from quorum.web.forms import (
    ApiKeyCreateForm,
    JobFilterForm,
    TenantSwitchForm,
    WebhookEndpointCreateForm,
)
from solutions import registry

View = Callable[..., HttpResponse]
JOBS_PER_PAGE = 25
AUDIT_EVENTS_PER_PAGE = 50
RECENT_JOBS = 10
RECENT_DELIVERIES = 50
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


def member_required(view: View) -> View:
    """Signed in (else the login page) and a member of a tenant (else a 403 page)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.membership is None:
            return render(request, "web/no_tenant.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    """A tenant admin of the active tenant; an analyst gets 403."""

    @member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.is_admin:
            raise PermissionDenied("Only a tenant admin can manage this.")
        return view(request, *args, **kwargs)

    return wrapper


def solution_title(name: str) -> str:
    try:
        return registry.get(name).title
    except LookupError:
        return name  # a job of a solution this deployment no longer runs


def result_url(job: Job) -> str | None:
    try:
        solution = registry.get(job.solution)
    except LookupError:
        return None
    return (
        solution.result_url(job)
        if solution.result_url and job.status == JobStatus.SUCCEEDED
        else None
    )


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


@require_POST
@login_required
def switch_tenant(request: HttpRequest) -> HttpResponse:
    form = TenantSwitchForm(request.POST)
    if form.is_valid():
        membership = get_object_or_404(
            Membership, user=request.user, tenant_id=form.cleaned_data["tenant_id"]
        )
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect("web:dashboard")


@require_GET
@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in Job.objects.order_by().values("solution", "status").annotate(total=Count("id")):
        counts[row["solution"]][row["status"]] = row["total"]
    cards = []
    for solution in registry.all_solutions():
        by_status = counts.get(solution.name, {})
        cards.append(
            {
                "solution": solution,
                "active": sum(by_status.get(status, 0) for status in ACTIVE_STATUSES),
                "succeeded": by_status.get(JobStatus.SUCCEEDED, 0),
                "failed": by_status.get(JobStatus.FAILED, 0),
                "total": sum(by_status.values()),
            }
        )
    totals = {
        "active": sum(card["active"] for card in cards),
        "succeeded": sum(card["succeeded"] for card in cards),
        "failed": sum(card["failed"] for card in cards),
        "total": sum(sum(by_status.values()) for by_status in counts.values()),
    }
    recent = list(Job.objects.select_related("created_by")[:RECENT_JOBS])
    for job in recent:
        job.solution_title = solution_title(job.solution)
    return render(
        request, "web/dashboard.html", {"cards": cards, "totals": totals, "recent_jobs": recent}
    )


@require_GET
@member_required
def job_list(request: HttpRequest) -> HttpResponse:
    form = JobFilterForm(request.GET or None)
    jobs = Job.objects.select_related("created_by")
    if form.is_valid():
        if form.cleaned_data["solution"]:
            jobs = jobs.filter(solution=form.cleaned_data["solution"])
        if form.cleaned_data["status"]:
            jobs = jobs.filter(status=form.cleaned_data["status"])
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    for job in page:
        job.solution_title = solution_title(job.solution)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/job_list.html",
        {"form": form, "page": page, "filter_query": query.urlencode()},
    )


def scalar_items(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
    """The plain values of a JSON object, for a details list (nested ones belong to result pages)."""
    return [
        (name, value)
        for name, value in (mapping or {}).items()
        if isinstance(value, str | int | float | bool) or value is None
    ]


def job_progress_context(job: Job) -> dict[str, Any]:
    """The context of "web/_job_progress.html", the live progress card a solution page can include."""
    return {
        "job": job,
        "summary": scalar_items(job.result_summary),
        "solution_title": solution_title(job.solution),
        "result_url": result_url(job),
        "is_finished": job.status in TERMINAL_STATUSES,
    }


@require_GET
@member_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("created_by", "api_key"), pk=job_id)
    context = job_progress_context(job) | {
        "files": job.files.all(),
        "params": scalar_items(job.params),
    }
    return render(request, "web/job_detail.html", context)


@require_GET
@member_required
def job_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    """The live part of the job page; htmx polls it until the job finishes."""
    job = get_object_or_404(Job, pk=job_id)
    return render(request, "web/_job_progress.html", job_progress_context(job))


@require_POST
@member_required
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    job = job_services.cancel_job(job, request.user, request=request)
    if request.headers.get("HX-Request"):
        return render(request, "web/_job_progress.html", job_progress_context(job))
    return redirect("web:job-detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
@admin_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """List and create keys. A new raw key is rendered in this response only, never stored."""
    created_key = None
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        api_key, raw_key = tenancy_services.create_api_key(
            request.tenant, request.user, form.cleaned_data["name"], request=request
        )
        created_key = {"api_key": api_key, "raw_key": raw_key}
        form = ApiKeyCreateForm()
    keys = ApiKey.objects.select_related("created_by")
    return render(
        request, "web/api_keys.html", {"form": form, "api_keys": keys, "created_key": created_key}
    )


@require_POST
@admin_required
def api_key_revoke(request: HttpRequest, api_key_id: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey.objects.select_related("tenant"), pk=api_key_id)
    tenancy_services.revoke_api_key(api_key, request.user, request=request)
    return redirect("web:api-keys")


@require_http_methods(["GET", "POST"])
@admin_required
def webhooks(request: HttpRequest) -> HttpResponse:
    """List and add endpoints, with the recent delivery log. A new secret is shown once."""
    created_endpoint = None
    form = WebhookEndpointCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint, secret = job_services.create_webhook_endpoint(
            request.tenant, request.user, form.cleaned_data["url"], request=request
        )
        created_endpoint = {"endpoint": endpoint, "secret": secret}
        form = WebhookEndpointCreateForm()
    context = {
        "form": form,
        "endpoints": WebhookEndpoint.objects.all(),
        "deliveries": WebhookDelivery.objects.select_related("endpoint")[:RECENT_DELIVERIES],
        "created_endpoint": created_endpoint,
    }
    return render(request, "web/webhooks.html", context)


@require_POST
@admin_required
def webhook_delete(request: HttpRequest, webhook_endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(
        WebhookEndpoint.objects.select_related("tenant"), pk=webhook_endpoint_id
    )
    job_services.delete_webhook_endpoint(endpoint, request.user, request=request)
    return redirect("web:webhooks")


@require_GET
@admin_required
def audit(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.all()
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action=action)
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    page = Paginator(events, AUDIT_EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/audit.html", {"page": page, "action": action, "actions": actions})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for every unmatched URL: problem details under /api/, the HTML page elsewhere."""
    if is_api_request(request):
        return problem_json_response(404, "No endpoint matches this URL.", code="not_found")
    return default_page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return problem_json_response(500, "Something went wrong on our side.", code="server_error")
    return default_server_error(request)
