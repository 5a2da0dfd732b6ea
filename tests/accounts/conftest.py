"""Fixtures for the accounts tests: users and signed-in browsers and API clients."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"  # UserFactory's password


@pytest.fixture(name="user")
def user_fixture(db: None) -> User:
    return UserFactory.create()


@pytest.fixture(name="signed_in_client")
def signed_in_client_fixture(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture(name="api_client")
def api_client_fixture() -> APIClient:
    return APIClient()


@pytest.fixture(name="signed_in_api_client")
def signed_in_api_client_fixture(api_client: APIClient, user: User) -> APIClient:
    api_client.force_authenticate(user)
    return api_client


@pytest.fixture(name="admin_browser")
def admin_browser_fixture(client: Client, db: None) -> Client:
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client
