"""Refuse an oversized request from its Content-Length, before anything reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from vision_site.exceptions import api_error_response, is_api_request


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class RequestSizeLimitMiddleware:
    """Answer 413 to a request whose declared body exceeds ``UPLOAD_MAX_REQUEST_BYTES``.

    Without it Django's multipart parser spools the whole body (to memory, then to a
    temporary file) and only then does the per-file limit refuse it: a 50 MB image was
    read whole to be told "the limit is 20 MB". Here nothing of the body is read. A
    request without Content-Length (chunked) is left to the per-file limits.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit: int = settings.UPLOAD_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= limit:
            return self.get_response(request)
        message = (
            f"The request is {_megabytes(length)}; the limit is {_megabytes(limit)} per "
            "request. Send the files in several requests."
        )
        if is_api_request(request):
            return api_error_response(status_code=413, code="request_too_large", message=message)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
