"""Cursor pagination that refuses a forged cursor (or a page size it cannot read) with a
400, instead of failing in SQL (or silently using the default)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, QuerySet
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView


class InvalidCursor(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The cursor is not valid: follow the 'next' or 'previous' link of a page."
    default_code = "invalid_cursor"


class CheckedCursorPagination(CursorPagination):
    """DRF's keyset pagination with the cursor's position parsed before it is used.

    A cursor is base64 that a client can forge, and DRF puts its position straight into
    a ``<ordering field> <`` filter: ``p=garbage`` became a 500 from the database layer.
    Here the position must parse as a value of the ordering field, else the answer is a
    400; so is a cursor DRF cannot decode at all (DRF says 404, but the request is at
    fault, not a missing resource).
    """

    _position_field: Field[Any, Any] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        ordering = self.get_ordering(request, queryset, view) if view else self.ordering
        first = ordering if isinstance(ordering, str) else ordering[0]
        self._position_field = queryset.model._meta.get_field(first.lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int | None:
        parameter = self.page_size_query_param
        if parameter and parameter in request.query_params:
            raw = request.query_params[parameter]
            if not raw.isdigit() or int(raw) < 1:
                raise ValidationError({parameter: ["A whole number of at least 1 is required."]})
        return super().get_page_size(request)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound as error:
            raise InvalidCursor() from error
        if cursor is not None and cursor.position is not None and self._position_field:
            try:
                self._position_field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, OverflowError) as error:
                raise InvalidCursor() from error
        return cursor
