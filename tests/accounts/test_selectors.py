"""Reads: which key authenticates whom, and whose tokens a user sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.selectors import api_token_authenticate, api_tokens_for_user
from accounts.services import api_token_create, api_token_revoke
from tests.factories import ApiTokenFactory, UserFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_key_authenticates_its_owner(user: User) -> None:
    _token, key = api_token_create(user=user, name="script")

    assert api_token_authenticate(key=key) == user


def test_an_unknown_or_altered_key_authenticates_nobody(user: User) -> None:
    _token, key = api_token_create(user=user, name="script")
    altered = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert api_token_authenticate(key=altered) is None
    assert api_token_authenticate(key="vs_" + "x" * 43) is None
    assert api_token_authenticate(key="") is None


def test_a_revoked_key_authenticates_nobody(user: User) -> None:
    token, key = api_token_create(user=user, name="script")

    api_token_revoke(token=token)

    assert api_token_authenticate(key=key) is None


def test_a_key_of_an_inactive_user_authenticates_nobody(user: User) -> None:
    _token, key = api_token_create(user=user, name="script")

    user.is_active = False
    user.save(update_fields=["is_active"])

    assert api_token_authenticate(key=key) is None


def test_a_user_sees_only_their_working_tokens_newest_first(user: User) -> None:
    now = timezone.now()
    older = ApiTokenFactory.create(user=user)
    newer = ApiTokenFactory.create(user=user)
    revoked = ApiTokenFactory.create(user=user, revoked_at=now)
    ApiTokenFactory.create(user=UserFactory.create())
    # auto_now_add sets created_at on insert; make the order explicit.
    type(older).objects.filter(pk=older.pk).update(created_at=now - timedelta(days=1))

    tokens = list(api_tokens_for_user(user=user))

    assert tokens == [newer, older]
    assert revoked not in tokens
