"""How to make an object of one tenant for each URL keyword argument, for the URL walk in
test_url_isolation.py.

Every `<converter:name>` in the URL configuration needs an entry here, keyed by `name`: the walk
fails on an unknown name, so a new endpoint cannot skip the isolation checks. A builder takes
the tenant and one of its admins, creates the object, and returns the URL value and a marker
string that appears in the object's API/HTML representation (to spot leaks in list pages).
Builders also get the route, so a solution's URL gets that solution's object.

A parameter that does not name a tenant's object (an export format, a row index inside a job,
a shipped model every tenant shares) goes in NON_OBJECT_URL_KWARGS instead, with a function
giving a valid value for the route; endpoints with only such parameters are checked for
authentication only. A row index must exist in the job built for that route, or the positive
control (tenant A opening its own object) fails: a solution whose URLs select result rows
adds a JOB_RESULT_BUILDERS entry that gives a new succeeded job of its own one result row
(index 0) and whatever else its result URLs read.
"""

from collections.abc import Callable
from typing import Any

from quorum.jobs import services as job_services
from quorum.jobs.models import Job, JobStatus
from quorum.tenancy import services as tenancy_services
from quorum.tenancy.models import Tenant
from quorum.tenancy.scoping import tenant_scope
from solutions import registry
from tests.platform.adapters import builders as adapter_builders
from tests.solutions.contracts.builders import build_finding, one_contract_document
from tests.solutions.defects.builders import one_inspection_result
from tests.solutions.molecules.builders import one_screening_result

ObjectBuilder = Callable[[Tenant, Any, str], tuple[str, str]]
TEST_SOLUTION = "echo"


def solution_of_route(route: str) -> str:
    """The registered solution whose URLs `route` belongs to ("api/v1/loans/..." -> "loans")."""
    names = {solution.name for solution in registry.all_solutions()}
    segments = route.removeprefix("api/v1/").split("/")
    return segments[0] if segments[0] in names else TEST_SOLUTION


# solution name -> fills a succeeded job of that solution with one result (row index 0).
JOB_RESULT_BUILDERS: dict[str, Callable[[Job], None]] = {
    "defects": one_inspection_result,
    "contracts": one_contract_document,
    "molecules": one_screening_result,
}


def build_job(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    solution = solution_of_route(route)
    job = Job.objects.create(
        tenant=tenant, solution=solution, created_by=user, status=JobStatus.SUCCEEDED, progress=100
    )
    if solution in JOB_RESULT_BUILDERS:
        with tenant_scope(tenant):
            JOB_RESULT_BUILDERS[solution](job)
    return str(job.pk), str(job.pk)


def build_api_key(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    api_key, _ = tenancy_services.create_api_key(tenant, user, f"{tenant.slug} integration")
    return str(api_key.pk), api_key.prefix


def build_webhook_endpoint(tenant: Tenant, user: Any, route: str) -> tuple[str, str]:
    url = f"https://hooks.{tenant.slug}-marker.example/quorum"
    endpoint, _ = job_services.create_webhook_endpoint(tenant, user, url)
    return str(endpoint.pk), url


URL_KWARG_BUILDERS: dict[str, ObjectBuilder] = {
    "job_id": build_job,
    "api_key_id": build_api_key,
    "webhook_endpoint_id": build_webhook_endpoint,
    "finding_id": build_finding,
    "adapter_dataset_id": adapter_builders.build_adapter_dataset,
    "adapter_training_run_id": adapter_builders.build_adapter_training_run,
    "adapter_version_id": adapter_builders.build_adapter_version,
}


NON_OBJECT_URL_KWARGS: dict[str, Callable[[str], str]] = {
    "index": lambda route: "0",  # a result row inside the job (see JOB_RESULT_BUILDERS)
    "kind": lambda route: "csv",  # an export format
}
