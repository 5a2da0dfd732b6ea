"""Writes: creating users, creating, revoking and using API tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from accounts.models import ApiToken, User
from accounts.services import (
    api_token_create,
    api_token_record_use,
    api_token_revoke,
    user_create,
)
from tests.factories import ApiTokenFactory, UserFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")


def test_token_create_returns_a_key_that_is_stored_only_as_a_hash(user: User) -> None:
    token, key = api_token_create(user=user, name="nightly upload")

    assert key.startswith("vs_")
    assert len(key) >= 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.user == user
    assert stored.name == "nightly upload"
    assert stored.key_prefix == key[:8]
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored_values = [str(getattr(stored, field.attname)) for field in ApiToken._meta.fields]
    assert key not in stored_values
    assert stored.revoked_at is None
    assert stored.last_used_at is None


def test_each_token_gets_its_own_key(user: User) -> None:
    keys = {api_token_create(user=user, name="same name")[1] for _ in range(5)}

    assert len(keys) == 5


def test_revoking_twice_keeps_the_first_revocation_time() -> None:
    token = ApiTokenFactory.create()

    api_token_revoke(token=token)
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk))

    assert first is not None
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first


def test_last_use_is_written_at_most_once_a_minute(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    token = ApiTokenFactory.create()
    start = timezone.now()

    api_token_record_use(token=token, now=start)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == start

    # The same request again within the minute costs no query at all.
    with django_assert_num_queries(0):
        api_token_record_use(token=token, now=start + timedelta(seconds=30))

    # A stale copy (another request) within the minute does not write again.
    stale = ApiTokenFactory.build(pk=token.pk, last_used_at=None)
    api_token_record_use(token=stale, now=start + timedelta(seconds=30))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == start

    later = start + timedelta(seconds=61)
    api_token_record_use(token=ApiToken.objects.get(pk=token.pk), now=later)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == later


def test_user_create_stores_a_hashed_password() -> None:
    user = user_create(username="alice", email="alice@example.com", password="a sturdy passphrase")

    stored = User.objects.get(pk=user.pk)
    assert stored.username == "alice"
    assert stored.email == "alice@example.com"
    assert stored.check_password("a sturdy passphrase")
    assert "a sturdy passphrase" not in stored.password
    assert stored.is_active
    assert not stored.is_staff


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "alicealic"])
def test_user_create_rejects_weak_passwords(password: str) -> None:
    with pytest.raises(ValidationError) as raised:
        user_create(username="alice", email="", password=password)

    assert set(raised.value.error_dict) == {"password"}
    assert not User.objects.filter(username="alice").exists()


def test_user_create_rejects_a_username_taken_in_another_case() -> None:
    UserFactory.create(username="alice")

    with pytest.raises(ValidationError) as raised:
        user_create(username="Alice", email="", password="a sturdy passphrase")

    assert set(raised.value.error_dict) == {"username"}
    assert User.objects.count() == 1


def test_user_create_rejects_a_malformed_username_and_email() -> None:
    with pytest.raises(ValidationError) as raised:
        user_create(username="no spaces!", email="not-an-email", password="a sturdy passphrase")

    assert set(raised.value.error_dict) == {"username", "email"}
    assert not User.objects.exists()
