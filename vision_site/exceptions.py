"""One JSON error shape for every API error.

``{"error": {"status": 404, "code": "not_found", "message": "...", "details": ...}}``:
``message`` is always a sentence a person can read; ``details`` keeps DRF's
per-field errors where there are any.

DRF's handler covers what its views raise on purpose. Anything else a view raises (a
bug, a database error) becomes a logged 500 in the same shape, and Django's own error
views (an unknown URL, a request refused before any view ran, a crash in middleware)
answer the same shape for paths under ``/api/``, so that an API client never has to
parse an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from sql_shards.errors import ShardUnavailableError

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/api/"
SERVER_ERROR_MESSAGE = "The server failed to answer this request; it has been logged."


def api_error_body(
    *, status_code: int, code: str, message: str, details: Any = None
) -> dict[str, Any]:
    """The body of every API error answer."""
    return {"error": {"status": status_code, "code": code, "message": message, "details": details}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _server_error(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    django_request = getattr(request, "_request", None)
    logger.error(
        "Unhandled %s in the API at %s",
        type(exc).__name__,
        getattr(django_request, "path", "?"),
        exc_info=exc,
    )
    # What Django's own handler would do: error reporters hear of it, and no half-done
    # atomic block commits.
    got_request_exception.send(sender=None, request=django_request)
    set_rollback()
    return Response(
        api_error_body(
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            code="server_error",
            message=SERVER_ERROR_MESSAGE,
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ShardUnavailableError):
        return Response(
            api_error_body(
                status_code=503,
                code="shard_unavailable",
                message=f"{exc} Tasks stored on other shards are not affected; retry later.",
                details={"shard": exc.shard},
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    response = exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    detail = response.data
    code = exc.get_codes() if isinstance(exc, APIException) else "error"
    if isinstance(exc, ValidationError):
        code = "invalid"
    response.data = api_error_body(
        status_code=response.status_code,
        code=code if isinstance(code, str) else "invalid",
        message=_first_message(
            detail.get("detail", detail) if isinstance(detail, dict) else detail
        ),
        details=detail if isinstance(exc, ValidationError) else None,
    )
    return response


# Django's error views (``handler400`` ... ``handler500`` in the root URLconf): the API's
# JSON body under /api/, Django's pages everywhere else.


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIX)


def api_error_response(*, status_code: int, code: str, message: str) -> JsonResponse:
    """The API's error body as a plain Django response, for code outside DRF's views."""
    return JsonResponse(
        api_error_body(status_code=status_code, code=code, message=message), status=status_code
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(
            status_code=400, code="bad_request", message="The request could not be understood."
        )
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(
            status_code=403, code="permission_denied", message="You may not do this."
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(
            status_code=404,
            code="not_found",
            message=f"There is no API endpoint at {request.path}.",
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(
            status_code=500, code="server_error", message=SERVER_ERROR_MESSAGE
        )
    return defaults.server_error(request)
