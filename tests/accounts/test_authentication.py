"""API requests authenticated by ``Authorization: Token <key>``."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_revoke

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")

TOKENS_URL = reverse("api:token-list")


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "token"])
def test_a_key_authenticates_api_requests(api_client: APIClient, user: User, keyword: str) -> None:
    token, key = api_token_create(user=user, name="script")

    response = api_client.get(TOKENS_URL, HTTP_AUTHORIZATION=f"{keyword} {key}")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [token.pk]


def test_using_a_key_records_when_it_was_last_used(api_client: APIClient, user: User) -> None:
    token, key = api_token_create(user=user, name="script")

    api_client.get(TOKENS_URL, HTTP_AUTHORIZATION=f"Token {key}")

    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_a_revoked_key_gets_401_with_a_clear_message(api_client: APIClient, user: User) -> None:
    token, key = api_token_create(user=user, name="script")
    api_token_revoke(token=token)

    response = api_client.get(TOKENS_URL, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API token."
    assert response["WWW-Authenticate"] == "Token"


def test_a_key_of_an_inactive_user_gets_401(api_client: APIClient, user: User) -> None:
    _token, key = api_token_create(user=user, name="script")
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.get(TOKENS_URL, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 401


def test_an_unknown_key_gets_401(api_client: APIClient) -> None:
    response = api_client.get(TOKENS_URL, HTTP_AUTHORIZATION="Token vs_not-a-real-key")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API token."


@pytest.mark.parametrize("header", ["Token", "Token two parts", "Bearer  "])
def test_a_malformed_header_gets_401(api_client: APIClient, header: str) -> None:
    response = api_client.get(TOKENS_URL, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert "Authorization header" in response.json()["error"]["message"]


def test_no_credentials_get_401_not_403(api_client: APIClient) -> None:
    response = api_client.get(TOKENS_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_signed_in_browser_session_still_works(api_client: APIClient, user: User) -> None:
    api_client.force_login(user)

    assert api_client.get(TOKENS_URL).status_code == 200
