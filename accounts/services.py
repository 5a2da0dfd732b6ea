"""Writes of users and API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.keys import KEY_PREFIX_LENGTH, api_key_generate, api_key_hash
from accounts.models import ApiToken, User
from accounts.selectors import api_token_for_key

# ``last_used_at`` is only as precise as this, so that a busy script does not cause a
# database write per request.
LAST_USED_PRECISION = timedelta(minutes=1)


def user_create(*, username: str, email: str, password: str) -> User:
    """Create an active, non-staff user after validating every field (``user_validate``)."""
    user = user_validate(username=username, email=email, password=password)
    user.set_password(password)
    user.save()
    return user


def user_validate(*, username: str, email: str, password: str) -> User:
    """The unsaved user these fields would make, once every field is checked.

    Raises ``ValidationError`` whose ``error_dict`` names each field at fault
    (``username``, ``email`` or ``password``), all at once, so forms can show each error
    in place. Usernames are unique regardless of case, so that "Alice" cannot pose as
    "alice".
    """
    user = User(username=username, email=User.objects.normalize_email(email))
    errors: dict[str, list[ValidationError]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        errors.update({field: list(messages) for field, messages in error.error_dict.items()})
    if "username" not in errors and User.objects.filter(username__iexact=username).exists():
        errors["username"] = [ValidationError("A user with that username already exists.")]
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        errors["password"] = list(error.error_list)
    if errors:
        raise ValidationError(errors)
    return user


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it and its key, which is never seen again."""
    key = api_key_generate()
    token = ApiToken.objects.create(
        user=user, name=name, key_prefix=key[:KEY_PREFIX_LENGTH], key_hash=api_key_hash(key)
    )
    return token, key


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke ``token`` for good; revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_record_use(*, token: ApiToken, now: datetime | None = None) -> None:
    """Set ``last_used_at``, unless it was set less than a minute ago."""
    now = now or timezone.now()
    if token.last_used_at is not None and token.last_used_at > now - LAST_USED_PRECISION:
        return
    # Conditional, so that concurrent requests with the same key write at most once.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    token.last_used_at = now


def api_token_use(*, key: str) -> ApiToken | None:
    """Authenticate with ``key``: its usable token (use recorded), or None."""
    token = api_token_for_key(key=key)
    if token is not None:
        api_token_record_use(token=token)
    return token
