"""Staff see every token in the admin and can revoke them, but never make keys there."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from tests.factories import ApiTokenFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")


def test_staff_see_every_users_tokens(admin_browser: Client) -> None:
    first = ApiTokenFactory.create(name="first script")
    second = ApiTokenFactory.create(name="second script", revoked_at="2026-01-01T00:00:00Z")

    page = admin_browser.get(reverse("admin:accounts_apitoken_changelist")).content.decode()

    assert "first script" in page
    assert "second script" in page
    assert first.user.username in page
    assert second.user.username in page


def test_the_user_page_lists_the_users_tokens(admin_browser: Client) -> None:
    token = ApiTokenFactory.create(name="on the user page")

    response = admin_browser.get(reverse("admin:accounts_user_change", args=[token.user.pk]))

    assert response.status_code == 200
    assert "on the user page" in response.content.decode()


def test_the_admin_cannot_make_keys(admin_browser: Client) -> None:
    response = admin_browser.get(reverse("admin:accounts_apitoken_add"))

    assert response.status_code == 403


def test_the_revoke_action_revokes_the_selected_tokens(admin_browser: Client) -> None:
    chosen = ApiTokenFactory.create()
    spared = ApiTokenFactory.create()

    response = admin_browser.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [chosen.pk]},
    )

    assert response.status_code == 302
    assert ApiToken.objects.get(pk=chosen.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=spared.pk).revoked_at is None
