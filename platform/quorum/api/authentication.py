"""`Authorization: Api-Key <key>` for DRF, using the key the tenant middleware already resolved."""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from quorum.tenancy.middleware import parse_api_key_header
from quorum.tenancy.models import ApiKey


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as the key's tenant; `request.auth` is the ApiKey.

    `request.user` is the user who created the key (for attribution) or anonymous; the key's
    rights come from `request.auth`, not from that user's role.
    """

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        if parse_api_key_header(request._request) is None:
            return None
        api_key: ApiKey | None = getattr(request._request, "api_key", None)
        if api_key is None:
            raise AuthenticationFailed("The API key is not valid or has been revoked.")
        return (api_key.created_by or AnonymousUser(), api_key)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate), not 403, when credentials are missing.
        return 'Api-Key realm="api"'
