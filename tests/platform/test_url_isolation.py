"""Tenant isolation and authentication of EVERY endpoint, generated from the URL configuration.

The walk visits each pattern of the root URLconf (API, browser pages, each solution's URLs),
fills its path parameters with objects of tenant A (builders in url_objects.py; an unknown
parameter name fails the test) and checks that:
- tenant B's admin, signed in, gets 404 for every tenant-owned URL, never 403 or 2xx;
- tenant B's API key gets 404 too, or, on admin-only endpoints, exactly the answer it gets
  for an id that does not exist (so nothing tells it that A's object exists);
- tenant A's admin gets a real answer (the positive control: the object exists);
- pages without parameters show B nothing of tenant A;
- without credentials, the API answers 401 and the browser redirects to the login page.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from rest_framework.test import APIClient

from tests.platform.url_objects import NON_OBJECT_URL_KWARGS, URL_KWARG_BUILDERS

# Open to anyone by design: signing in and out, and the API's schema and docs.
PUBLIC_ROUTES = {"login/", "logout/", "api/v1/schema/", "api/v1/docs/"}
# Django's admin is the platform admin's (superuser), not a tenant's.
SKIPPED_PREFIXES = ("admin/",)
API_PREFIX = "api/"
API_METHODS = ("get", "post", "put", "patch", "delete")
WEB_METHODS = ("get", "post")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
MISSING_VALUES = {
    "int": "987654321",
    "uuid": str(uuid.UUID(int=1)),
    "str": "missing",
    "slug": "missing",
}


@dataclass(frozen=True)
class Endpoint:
    route: str  # "api/v1/jobs/<uuid:job_id>/"

    @property
    def is_api(self) -> bool:
        return self.route.startswith(API_PREFIX)

    @property
    def parameters(self) -> list[tuple[str, str]]:
        return [(m["name"], m["converter"] or "str") for m in PARAMETER.finditer(self.route)]

    def url(self, values: dict[str, str]) -> str:
        return "/" + PARAMETER.sub(lambda m: values[m["name"]], self.route)


def walk(patterns: list[Any], prefix: str = "") -> Iterator[Endpoint]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        assert isinstance(pattern.pattern, RoutePattern), (
            f"{route!r} is a regular expression; use path() so the isolation walk can fill it"
        )
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield Endpoint(route)


ENDPOINTS = sorted(set(walk(get_resolver().url_patterns)), key=lambda e: e.route)
OWNED = [e for e in ENDPOINTS if any(name not in NON_OBJECT_URL_KWARGS for name, _ in e.parameters)]
UNOWNED = [e for e in ENDPOINTS if e not in OWNED and e.route not in PUBLIC_ROUTES]


def test_the_walk_sees_the_platform_endpoints() -> None:
    routes = {endpoint.route for endpoint in ENDPOINTS}
    assert {"api/v1/jobs/<uuid:job_id>/", "jobs/<uuid:job_id>/", "api/v1/api-keys/"} <= routes


def test_every_path_parameter_has_an_object_builder() -> None:
    unknown = {
        f"{name} (in {endpoint.route})"
        for endpoint in ENDPOINTS
        for name, _ in endpoint.parameters
        if name not in URL_KWARG_BUILDERS and name not in NON_OBJECT_URL_KWARGS
    }
    assert not unknown, f"add builders to tests/platform/url_objects.py for: {sorted(unknown)}"


def build_objects(
    endpoint: Endpoint, tenant: Any, user: Any, *, strict: bool = True
) -> dict[str, str]:
    """Values for the endpoint's parameters; with strict=False an unknown one gets a dummy
    value (the authentication check needs no real object, and the builder test reports it)."""
    values = {}
    for name, converter in endpoint.parameters:
        if name in NON_OBJECT_URL_KWARGS:
            values[name] = NON_OBJECT_URL_KWARGS[name](endpoint.route)
        elif name in URL_KWARG_BUILDERS:
            values[name] = URL_KWARG_BUILDERS[name](tenant, user, endpoint.route)[0]
        elif strict:
            pytest.fail(f"no builder for URL parameter {name!r}: add one to url_objects.py")
        else:
            values[name] = MISSING_VALUES[converter]
    return values


def call(client: Client, method: str, url: str) -> Any:
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, data={}, content_type="application/json")


def statuses(client: Client, endpoint: Endpoint, url: str) -> dict[str, int]:
    methods = API_METHODS if endpoint.is_api else WEB_METHODS
    return {method: call(client, method, url).status_code for method in methods}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", OWNED, ids=lambda e: e.route)
def test_another_tenants_object_answers_404(
    endpoint: Endpoint, tenant_a, admin_a, admin_a_client, admin_b_client, api_client_b
) -> None:
    url = endpoint.url(build_objects(endpoint, tenant_a, admin_a))
    assert resolve(url).route == endpoint.route

    as_admin_b = statuses(admin_b_client, endpoint, url)
    assert set(as_admin_b.values()) <= {404, 405}, as_admin_b
    assert 404 in as_admin_b.values(), as_admin_b

    if endpoint.is_api:
        as_key_b = statuses(api_client_b, endpoint, url)
        missing_url = endpoint.url(
            {
                name: NON_OBJECT_URL_KWARGS[name](endpoint.route)
                if name in NON_OBJECT_URL_KWARGS
                else MISSING_VALUES[converter]
                for name, converter in endpoint.parameters
            }
        )
        for_missing = statuses(api_client_b, endpoint, missing_url)
        assert as_key_b == for_missing, "B's key must learn nothing about A's object"
        assert set(as_key_b.values()) <= {403, 404, 405}, as_key_b

    # Positive control, last (it may cancel or delete A's object): the object is really there.
    as_admin_a = statuses(admin_a_client, endpoint, url)
    assert any(code not in (404, 405) and code < 500 for code in as_admin_a.values()), as_admin_a


@pytest.fixture
def tenant_a_objects(tenant_a, admin_a, analyst_a) -> list[str]:
    """One object of every kind in tenant A; their markers must never show in B's pages."""
    return [builder(tenant_a, admin_a, "")[1] for builder in URL_KWARG_BUILDERS.values()]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", UNOWNED, ids=lambda e: e.route)
def test_pages_without_parameters_show_nothing_of_another_tenant(
    endpoint: Endpoint, tenant_a_objects, admin_b_client, api_client_b
) -> None:
    clients = [admin_b_client, api_client_b] if endpoint.is_api else [admin_b_client]
    for client in clients:
        body = client.get(endpoint.url({})).content.decode()
        leaked = [marker for marker in [*tenant_a_objects, "acme"] if marker in body.lower()]
        assert not leaked, f"{endpoint.route} shows tenant A's {leaked}"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [*OWNED, *UNOWNED], ids=lambda e: e.route)
def test_without_credentials_the_api_answers_401_and_pages_redirect_to_login(
    endpoint: Endpoint, tenant_a, admin_a
) -> None:
    url = endpoint.url(build_objects(endpoint, tenant_a, admin_a, strict=False))
    client = APIClient() if endpoint.is_api else Client()
    methods = API_METHODS if endpoint.is_api else WEB_METHODS
    answers = {method: call(client, method, url) for method in methods}
    codes = {method: response.status_code for method, response in answers.items()}
    if endpoint.is_api:
        assert set(codes.values()) == {401}, codes
        assert all("WWW-Authenticate" in response for response in answers.values())
        assert all(
            response["Content-Type"] == "application/problem+json" for response in answers.values()
        )
    else:
        assert set(codes.values()) <= {302, 405}, codes
        for response in answers.values():
            if response.status_code == 302:
                assert urlsplit(response["Location"]).path == "/login/"
        assert 302 in codes.values(), codes
