"""A request declaring a body over UPLOAD_MAX_REQUEST_BYTES is a 413, and not read."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from predictions.models import Task
from tests.factories import UserFactory
from tests.images import png_bytes

pytestmark = pytest.mark.django_db

OVERSIZED = 150 * 1024 * 1024


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise AssertionError("the body of an oversized request was read")


@pytest.fixture
def owner() -> User:
    return UserFactory.create()


def _declared(size: int) -> dict[str, Any]:
    return {"CONTENT_LENGTH": str(size), "wsgi.input": UnreadableBody()}


def test_an_oversized_api_upload_is_refused_from_its_content_length(owner: User) -> None:
    api = APIClient()
    api.force_authenticate(owner)

    response = api.post(
        "/api/v1/tasks/",
        "x",
        content_type="multipart/form-data; boundary=BoUnDaRy",
        **_declared(OVERSIZED),
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error == {
        "status": 413,
        "code": "request_too_large",
        "message": "The request is 150.0 MB; the limit is 100.0 MB per request. "
        "Send the files in several requests.",
        "details": None,
    }
    assert not Task.objects.exists()


def test_an_oversized_upload_from_the_page_is_refused_too(client: Client, owner: User) -> None:
    client.force_login(owner)

    response = client.generic(
        "POST",
        reverse("predictions:upload"),
        "x",
        content_type="multipart/form-data; boundary=BoUnDaRy",
        **_declared(OVERSIZED),
    )

    assert response.status_code == 413
    assert "the limit is 100.0 MB per request" in response.content.decode()


def test_the_limit_is_the_setting_and_real_bodies_under_it_pass(
    owner: User, settings: SettingsWrapper
) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    image = io.BytesIO(png_bytes())
    image.name = "a.png"
    size = len(png_bytes())
    settings.UPLOAD_MAX_REQUEST_BYTES = size + 2000  # room for the multipart framing

    accepted = api.post("/api/v1/tasks/", {"image": [image]}, format="multipart")
    assert accepted.status_code == 202

    settings.UPLOAD_MAX_REQUEST_BYTES = size  # the framing alone now tips it over
    image.seek(0)
    refused = api.post("/api/v1/tasks/", {"image": [image]}, format="multipart")
    assert refused.status_code == 413
    assert Task.objects.count() == 1
