"""Filters that refuse a value they cannot read, where django-filter would ignore it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or ``1``/``0``); absent is no filter, anything else an error.

    django-filter's BooleanFilter reads ``?is_active=maybe`` as "no filter" and answers
    every row, while ``?kind=bogus`` is a 400: one rule for all, and it is to refuse.
    """

    # The default NullBooleanSelect turns an unknown value into None before to_python.
    widget = forms.TextInput

    # Django's NullBooleanField returns None too; the stubs inherit BooleanField's ``bool``.
    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        try:
            return _BOOLEANS[str(value).strip().lower()]
        except KeyError:
            raise ValidationError("Enter true or false.", code="invalid") from None

    def validate(self, value: Any) -> None:
        """Every value to_python returned is valid."""


class StrictBooleanFilter(django_filters.BooleanFilter):  # type: ignore[misc]  # untyped library
    field_class = StrictBooleanField
