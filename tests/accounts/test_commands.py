"""``manage.py create_token USER [--name NAME]``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from tests.factories import UserFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")


def _create_token(*args: str) -> str:
    stdout = StringIO()
    call_command("create_token", *args, stdout=stdout)
    return stdout.getvalue()


def test_create_token_prints_only_a_key_that_authenticates(
    api_client: APIClient, user: User
) -> None:
    output = _create_token(user.username)

    key = output.strip()
    assert output == f"{key}\n"
    assert key.startswith("vs_")
    response = api_client.get(reverse("api:token-list"), HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert response.json()[0]["name"] == "command line"


def test_create_token_names_the_token(user: User) -> None:
    key = _create_token(user.username, "--name", "deploy bot").strip()

    token = ApiToken.objects.get(user=user)
    assert token.name == "deploy bot"
    assert token.key_prefix == key[:8]


def test_create_token_for_an_unknown_user_fails_clearly() -> None:
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        _create_token("nobody")

    assert not ApiToken.objects.exists()


def test_create_token_for_an_inactive_user_fails_clearly() -> None:
    user = UserFactory.create(is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        _create_token(user.username)

    assert not ApiToken.objects.exists()
