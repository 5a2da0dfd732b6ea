"""Forms of the pages: the no-JavaScript upload and the gallery's bulk actions."""

from __future__ import annotations

from typing import Any

from django import forms


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_clean(item, initial) for item in data]
        return [single_clean(data, initial)]


class UploadForm(forms.Form):
    images = MultipleFileField(label="Images or ZIP archives")


class TaskIdsField(forms.Field):
    """Repeated task ids (checkboxes named ``tasks``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        try:
            return [int(item) for item in values]
        except (TypeError, ValueError) as error:
            raise forms.ValidationError("Task ids are whole numbers.") from error

    def validate(self, value: Any) -> None:
        if not value:
            raise forms.ValidationError("Select at least one image.")


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=(("rerun", "Rerun"), ("delete", "Delete")))
    tasks = TaskIdsField()
