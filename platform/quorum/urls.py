"""Root URLconf: the browser pages, /api/v1/, each solution's pages at /<name>/, and /admin/.

Solutions come from `solutions.registry`; a solution name that would shadow a platform URL
is refused at startup.
"""

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.urls import include, path

from solutions import registry

PLATFORM_PREFIXES = {
    "",
    "adapters",
    "admin",
    "api",
    "audit",
    "jobs",
    "login",
    "logout",
    "settings",
    "static",
    "tenant",
}

for _solution in registry.all_solutions():
    if _solution.name in PLATFORM_PREFIXES:
        raise ImproperlyConfigured(f"solution name {_solution.name!r} clashes with a platform URL")

urlpatterns = [
    path("api/v1/", include("quorum.api.urls")),
    path("admin/", admin.site.urls),
    path("adapters/", include("quorum.adapters.urls")),
    *[
        path(f"{solution.name}/", include(solution.web_urls))
        for solution in registry.all_solutions()
        if solution.web_urls
    ],
    path("", include("quorum.web.urls")),
]

handler404 = "quorum.web.views.page_not_found"
handler500 = "quorum.web.views.server_error"
