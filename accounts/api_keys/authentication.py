"""DRF authentication by API key: `Authorization: Token <key>` (as DRF's tokens were sent, so
integrations keep working) or `Authorization: Bearer <key>`."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

SCHEMES = (b"token", b"bearer")


class ApiKeyAuthentication(BaseAuthentication):
    """The request's user is the key's API user; `request.auth` is the `ApiKey`."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in SCHEMES:
            return None
        if len(words) != 2:
            raise AuthenticationFailed(
                "Invalid Authorization header: send `Token <key>` or `Bearer <key>`."
            )
        try:
            raw = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.") from None

        from accounts.api_keys import services  # models load after DRF's settings

        try:
            key = services.api_key_check(raw)
        except services.ApiKeyRefused as refused:
            raise AuthenticationFailed(str(refused)) from None
        return key.user, key

    def authenticate_header(self, request) -> str:
        # Makes refusals 401 (with this challenge), not 403.
        return 'Token realm="api"'
