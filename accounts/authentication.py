"""``Authorization: Token <key>`` (or ``Bearer <key>``) authentication for the API."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.services import api_token_use

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request by one of its user's named API tokens.

    Requests without a ``Token``/``Bearer`` header are left to the next authentication
    class (sessions); a header with a bad, revoked or disabled key fails outright.
    """

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Invalid Authorization header: expected 'Token <key>', with no spaces in the key."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as error:
            raise AuthenticationFailed("Invalid API token: it contains non-ASCII bytes.") from error
        token = api_token_use(key=key)
        if token is None:
            raise AuthenticationFailed("Invalid or revoked API token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate value makes DRF answer 401 rather than 403.
        return self.keyword
