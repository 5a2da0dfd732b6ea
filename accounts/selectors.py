"""Reads of users and API tokens."""

from __future__ import annotations

import hmac

from django.db.models import QuerySet

from accounts.keys import api_key_hash
from accounts.models import ApiToken, User


def user_by_username(*, username: str) -> User | None:
    return User.objects.filter(username=username).first()


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work, newest first; revoked ones stay in the admin."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at", "-id"
    )


def api_token_for_key(*, key: str) -> ApiToken | None:
    """The token ``key`` belongs to, with its user, if it may authenticate; else None.

    The lookup is by the key's hash, never by the key, so the time it takes says
    nothing about how close a guess was to a real key; the final comparison is
    constant-time all the same. Revoked tokens and tokens of inactive users give None.
    """
    key_hash = api_key_hash(key)
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.key_hash, key_hash):
        return None
    return token


def api_token_authenticate(*, key: str) -> User | None:
    """The user ``key`` authenticates, or None (unknown or revoked key, inactive user)."""
    token = api_token_for_key(key=key)
    return None if token is None else token.user
