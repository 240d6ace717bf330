"""Rate limit per API key (scope "api_key" in DEFAULT_THROTTLE_RATES)."""

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from quorum.tenancy.models import ApiKey

if TYPE_CHECKING:  # rest_framework.views imports these modules through its settings
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Counts requests per key in the default cache; browser sessions are not throttled here."""

    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at call time (DRF reads it at import), so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
