"""``/api/v1/tokens/``: list, create (key shown once) and revoke one's own tokens."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from tests.factories import ApiTokenFactory, UserFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")

TOKENS_URL = reverse("api:token-list")


def test_create_shows_the_key_once_and_the_list_never(
    signed_in_api_client: APIClient, user: User
) -> None:
    created = signed_in_api_client.post(TOKENS_URL, {"name": "ci"}, format="json")

    assert created.status_code == 201
    assert "no-store" in created["Cache-Control"]
    body = created.json()
    key = body["key"]
    assert key.startswith("vs_")
    assert body["name"] == "ci"
    assert body["key_prefix"] == key[:8]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.user == user

    listed = signed_in_api_client.get(TOKENS_URL)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [token.pk]
    assert "key" not in listed.json()[0]
    assert key not in listed.content.decode()


def test_a_created_key_authenticates(signed_in_api_client: APIClient) -> None:
    key = signed_in_api_client.post(TOKENS_URL, {"name": "ci"}, format="json").json()["key"]

    fresh_client = APIClient()
    response = fresh_client.get(TOKENS_URL, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200


def test_create_needs_a_name(signed_in_api_client: APIClient) -> None:
    response = signed_in_api_client.post(TOKENS_URL, {"name": ""}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]
    assert not ApiToken.objects.exists()


def test_the_list_holds_only_ones_own_working_tokens(
    signed_in_api_client: APIClient, user: User
) -> None:
    own = ApiTokenFactory.create(user=user)
    ApiTokenFactory.create(user=user, revoked_at="2026-01-01T00:00:00Z")
    ApiTokenFactory.create(user=UserFactory.create())

    response = signed_in_api_client.get(TOKENS_URL)

    assert [item["id"] for item in response.json()] == [own.pk]


def test_delete_revokes_and_the_key_stops_working(user: User) -> None:
    key = "vs_known-key-for-this-test"
    token = ApiTokenFactory.create(user=user, key=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.delete(reverse("api:token-detail", args=[token.pk]))

    assert response.status_code == 204
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get(TOKENS_URL).status_code == 401


def test_revoking_another_users_token_is_404(signed_in_api_client: APIClient) -> None:
    other = ApiTokenFactory.create(user=UserFactory.create())

    response = signed_in_api_client.delete(reverse("api:token-detail", args=[other.pk]))

    assert response.status_code == 404
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None


def test_revoking_a_revoked_token_is_404(signed_in_api_client: APIClient, user: User) -> None:
    token = ApiTokenFactory.create(user=user, revoked_at="2026-01-01T00:00:00Z")

    response = signed_in_api_client.delete(reverse("api:token-detail", args=[token.pk]))

    assert response.status_code == 404


def test_the_endpoints_need_authentication(api_client: APIClient) -> None:
    token = ApiTokenFactory.create()

    assert api_client.post(TOKENS_URL, {"name": "x"}, format="json").status_code == 401
    assert api_client.delete(reverse("api:token-detail", args=[token.pk])).status_code == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_openapi_schema_documents_token_authentication(api_client: APIClient) -> None:
    response = api_client.get(reverse("api:schema"), {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    scheme = schema["components"]["securitySchemes"]["apiToken"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert {"apiToken": []} in schema["paths"]["/api/v1/tokens/"]["get"]["security"]
