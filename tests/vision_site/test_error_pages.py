"""Pages outside the API answer their errors in the site's layout, with a way back."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from accounts.models import User
from predictions import selectors
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _assert_site_page(response: Any, status: int, heading: str) -> None:
    content = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert f"<h1>{heading}</h1>" in content
    assert 'class="site-header"' in content  # the site's navigation
    assert "css/site." in content  # its stylesheet
    assert '<a class="button" href="/">Back to the start page</a>' in content


@pytest.mark.parametrize("signed_in", [False, True])
def test_an_unknown_page_is_a_styled_404(client: Client, signed_in: bool) -> None:
    user: User = UserFactory.create()
    if signed_in:
        client.force_login(user)

    response = client.get("/no-such-page/")

    _assert_site_page(response, 404, "Page not found")
    assert ("Sign out" in response.content.decode()) is signed_in


def test_a_refused_page_is_a_styled_403(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> None:
        raise PermissionDenied

    monkeypatch.setattr(selectors, "class_styles", refused)
    client.force_login(UserFactory.create())

    _assert_site_page(client.get("/gallery/"), 403, "Not allowed")


def test_a_form_without_its_csrf_token_is_a_styled_403() -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "a", "password": "b"})

    _assert_site_page(response, 403, "The form has expired")


def test_a_crash_is_a_styled_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(selectors, "class_styles", broken)
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory.create())

    _assert_site_page(client.get("/gallery/"), 500, "Something went wrong")
