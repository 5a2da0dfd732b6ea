"""The OpenAPI schema's error answers: every operation documents the errors it can give,
in the one shape of ``vision_site.exceptions``.

drf-spectacular documents only the successful answer of an operation unless each view
lists its errors; listing them by hand on every view would repeat the same five
responses a dozen times and drift. The rules here follow from what raises them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiErrorDetailSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="A stable identifier, e.g. not_found, invalid.")
    message = serializers.CharField(help_text="A sentence a person can read.")
    details = serializers.JSONField(
        allow_null=True, help_text="Per-field errors of a 400 (field: [messages]); else null."
    )


class ApiErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """Every error answer of the API."""

    error = ApiErrorDetailSerializer()


class ApiAutoSchema(AutoSchema):
    """AutoSchema that adds the error answers an operation can give.

    A view names the actions that touch the shards in ``shard_backed_actions``: a shard
    that is down answers them 503 with ``Retry-After``.
    """

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status_code, description in self._error_answers():
            # drf-spectacular's helpers below are untyped.
            responses.setdefault(
                str(status_code),
                self._get_response_for_code(  # type: ignore[no-untyped-call]
                    OpenApiResponse(ApiErrorSerializer, description=description),
                    str(status_code),
                    direction=direction,
                ),
            )
        return responses

    def _error_answers(self) -> list[tuple[int, str]]:
        method = (self.method or "").upper()
        answers: list[tuple[int, str]] = []
        queried = bool(
            self._get_filter_parameters()  # type: ignore[no-untyped-call]
            or self._get_pagination_parameters()  # type: ignore[no-untyped-call]
        )
        if (method in {"POST", "PUT", "PATCH"} and self.get_request_serializer()) or queried:
            answers.append((400, "Invalid input: `error.details` names each field at fault."))
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            answers.append((401, "No valid API token or session."))
        if method in UNSAFE_METHODS:
            answers.append((403, "A session-authenticated write without its CSRF token."))
        if "{" in self.path:
            answers.append((404, "No such object, or not one of yours."))
        if method in {"POST", "PUT", "PATCH"}:
            answers.append((413, "The request's Content-Length exceeds the upload limit."))
        if getattr(self.view, "action", None) in getattr(self.view, "shard_backed_actions", ()):
            answers.append((503, "A shard holding the data is down; retry after Retry-After."))
        return answers
