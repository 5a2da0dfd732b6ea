"""Serving a task's stored files (original, thumbnail) once ownership is checked."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404


def task_file_response(field: FieldFile, *, download_name: str | None) -> FileResponse:
    """The file behind ``field``, privately cacheable; 404 if absent or missing on disk.

    Callers pass a field of a task they already fetched for the requesting owner:
    media is never served from a public URL.
    """
    if not field:
        raise Http404("This task has no such file.")
    try:
        handle = field.open("rb")
    except FileNotFoundError as error:
        raise Http404("The file is missing from storage.") from error
    response = FileResponse(handle, filename=download_name or "")
    response["Cache-Control"] = "private, max-age=86400"
    return response
