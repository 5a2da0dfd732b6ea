"""How the OpenAPI schema (drf-spectacular) documents our authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


# drf-spectacular registers extensions in an untyped __init_subclass__.
class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        # OpenAPI 3.0 "http" schemes cannot express a "Token" prefix; an API key in the
        # Authorization header can, and Swagger UI then sends what is typed verbatim.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'An API token from the Tokens page, sent as "Token <key>" '
                '("Bearer <key>" is accepted too).'
            ),
        }
