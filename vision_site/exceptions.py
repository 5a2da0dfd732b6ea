"""One JSON error shape for every API error.

``{"error": {"status": 404, "code": "not_found", "message": "...", "details": ...}}``:
``message`` is always a sentence a person can read; ``details`` keeps DRF's
per-field errors where there are any.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from sql_shards.errors import ShardUnavailableError


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ShardUnavailableError):
        return Response(
            {
                "error": {
                    "status": 503,
                    "code": "shard_unavailable",
                    "message": f"{exc} Tasks stored on other shards are not affected; retry later.",
                    "details": {"shard": exc.shard},
                }
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = exc.get_codes() if isinstance(exc, APIException) else "error"
    if isinstance(exc, ValidationError):
        code = "invalid"
    response.data = {
        "error": {
            "status": response.status_code,
            "code": code if isinstance(code, str) else "invalid",
            "message": _first_message(
                detail.get("detail", detail) if isinstance(detail, dict) else detail
            ),
            "details": detail if isinstance(exc, ValidationError) else None,
        }
    }
    return response
