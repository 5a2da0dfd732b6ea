"""The pages: sign up, sign in, sign out, change password, API tokens."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User
from tests.accounts.conftest import PASSWORD
from tests.factories import ApiTokenFactory, UserFactory

# The leader's test database is built over the shards' (foreign servers), so a test
# database setup must include every alias even where a test uses only the leader.
pytestmark = pytest.mark.django_db(databases="__all__")

SIGNUP_URL = reverse("accounts:signup")
LOGIN_URL = reverse("accounts:login")
LOGOUT_URL = reverse("accounts:logout")
PASSWORD_URL = reverse("accounts:password_change")
TOKENS_URL = reverse("accounts:tokens")


def _signed_in_user_id(client: Client) -> int | None:
    value = client.session.get(SESSION_KEY)
    return None if value is None else int(value)


def _signup_data(**overrides: str) -> dict[str, str]:
    return {
        "username": "alice",
        "email": "alice@example.com",
        "password": "a sturdy passphrase",
        "password_confirm": "a sturdy passphrase",
    } | overrides


# --- Sign up ----------------------------------------------------------------------


def test_the_signup_page_shows_a_labelled_form(client: Client) -> None:
    response = client.get(SIGNUP_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<label for="id_username"' in page
    assert '<label for="id_password"' in page
    assert 'href="/static/css/site.css"' in page


def test_signup_creates_the_account_and_signs_in(client: Client) -> None:
    response = client.post(SIGNUP_URL, _signup_data())

    user = User.objects.get(username="alice")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert user.check_password("a sturdy passphrase")
    assert _signed_in_user_id(client) == user.pk


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password_confirm": "something else entirely"}, "The two passwords differ."),
        ({"password": "password", "password_confirm": "password"}, "too common"),
        ({"password": "short", "password_confirm": "short"}, "too short"),
        ({"username": "no spaces!"}, "Enter a valid username"),
    ],
)
def test_signup_shows_what_is_wrong_and_creates_nothing(
    client: Client, overrides: dict[str, str], message: str
) -> None:
    response = client.post(SIGNUP_URL, _signup_data(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()
    assert _signed_in_user_id(client) is None


def test_signup_refuses_a_taken_username_in_any_case(client: Client) -> None:
    UserFactory.create(username="alice")

    response = client.post(SIGNUP_URL, _signup_data(username="ALICE"))

    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.count() == 1


def test_signup_reports_every_error_at_once(client: Client) -> None:
    UserFactory.create(username="alice")

    response = client.post(
        SIGNUP_URL,
        _signup_data(email="not an address", password="short", password_confirm="other"),
    )

    errors = response.context["form"].errors
    assert errors["username"] == ["A user with that username already exists."]
    assert errors["email"] == ["Enter a valid email address."]
    assert "too short" in " ".join(errors["password"])
    assert errors["password_confirm"] == ["The two passwords differ."]
    assert User.objects.count() == 1


def test_signup_keeps_one_message_for_a_field_the_form_refused(client: Client) -> None:
    response = client.post(SIGNUP_URL, _signup_data(username="no spaces!", password_confirm="x"))

    errors = response.context["form"].errors
    assert len(errors["username"]) == 1
    assert "Enter a valid username" in errors["username"][0]
    assert errors["password_confirm"] == ["The two passwords differ."]


# --- Sign in and out --------------------------------------------------------------


def test_sign_in_with_the_right_password(client: Client, user: User) -> None:
    response = client.post(LOGIN_URL, {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _signed_in_user_id(client) == user.pk


def test_sign_in_follows_next(client: Client, user: User) -> None:
    response = client.post(
        f"{LOGIN_URL}?next={TOKENS_URL}", {"username": user.username, "password": PASSWORD}
    )

    assert response["Location"] == TOKENS_URL


def test_sign_in_with_a_wrong_password_fails(client: Client, user: User) -> None:
    response = client.post(LOGIN_URL, {"username": user.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert _signed_in_user_id(client) is None


def test_sign_out_needs_a_post_and_ends_the_session(signed_in_client: Client) -> None:
    assert signed_in_client.get(LOGOUT_URL).status_code == 405
    assert _signed_in_user_id(signed_in_client) is not None

    response = signed_in_client.post(LOGOUT_URL)

    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert _signed_in_user_id(signed_in_client) is None


def test_the_navigation_follows_who_is_signed_in(client: Client, user: User) -> None:
    anonymous = client.get(LOGIN_URL).content.decode()
    assert f'href="{SIGNUP_URL}"' in anonymous
    assert f'action="{LOGOUT_URL}"' not in anonymous

    client.force_login(user)
    member = client.get(TOKENS_URL).content.decode()
    assert f'action="{LOGOUT_URL}"' in member
    assert 'href="/admin/"' not in member

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert 'href="/admin/"' in client.get(TOKENS_URL).content.decode()


# --- Password change --------------------------------------------------------------


def test_password_change_keeps_the_user_signed_in(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(
        PASSWORD_URL,
        {
            "old_password": PASSWORD,
            "new_password1": "a different passphrase",
            "new_password2": "a different passphrase",
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a different passphrase")
    assert not user.check_password(PASSWORD)
    followed = signed_in_client.get(response["Location"])
    assert followed.status_code == 200
    assert "Your password was changed." in followed.content.decode()


def test_password_change_needs_the_old_password(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(
        PASSWORD_URL,
        {
            "old_password": "not it",
            "new_password1": "a different passphrase",
            "new_password2": "a different passphrase",
        },
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_needs_sign_in(client: Client) -> None:
    response = client.get(PASSWORD_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={PASSWORD_URL}"


# --- API tokens -------------------------------------------------------------------


def test_the_tokens_page_needs_sign_in(client: Client) -> None:
    response = client.get(TOKENS_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={TOKENS_URL}"


def _shown_key(page: str) -> str:
    return page.split('id="new-key" class="key" type="text" value="', 1)[1].split('"', 1)[0]


def test_a_new_key_is_shown_once_after_a_redirect(signed_in_client: Client, user: User) -> None:
    created = signed_in_client.post(TOKENS_URL, {"name": "nightly upload"})

    # Redirected, so that reloading the page cannot send the POST again.
    assert created.status_code == 302
    assert created["Location"] == TOKENS_URL
    token = ApiToken.objects.get(user=user)
    shown = signed_in_client.get(TOKENS_URL)
    assert "no-store" in shown["Cache-Control"]
    page = shown.content.decode()
    key = _shown_key(page)
    assert key.startswith(token.key_prefix)
    assert "it will not be shown again" in page
    assert f'curl -H "Authorization: Token {key}" http://testserver/api/v1/tasks/' in page

    reloaded = signed_in_client.get(TOKENS_URL).content.decode()
    assert key not in reloaded
    assert 'id="new-key"' not in reloaded
    assert "nightly upload" in reloaded
    assert f"{token.key_prefix}…" in reloaded
    assert 'curl -H "Authorization: Token &lt;key&gt;" http://testserver/api/v1/tasks/' in reloaded
    assert 'href="/api/v1/docs/"' in reloaded
    assert ApiToken.objects.filter(user=user).count() == 1


def test_the_key_does_not_stay_in_the_session(signed_in_client: Client) -> None:
    signed_in_client.post(TOKENS_URL, {"name": "script"})
    key = _shown_key(signed_in_client.get(TOKENS_URL).content.decode())

    assert key not in str(dict(signed_in_client.session.items()))


def test_a_key_revoked_before_it_was_shown_is_not_shown(
    signed_in_client: Client, user: User
) -> None:
    signed_in_client.post(TOKENS_URL, {"name": "script"})
    ApiToken.objects.filter(user=user).update(revoked_at=timezone.now())

    page = signed_in_client.get(TOKENS_URL).content.decode()

    assert 'id="new-key"' not in page


def test_the_key_shown_on_the_page_authenticates(signed_in_client: Client) -> None:
    page = signed_in_client.post(TOKENS_URL, {"name": "script"}, follow=True).content.decode()
    key = _shown_key(page)

    response = Client().get(reverse("api:token-list"), HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200


def test_a_token_needs_a_name(signed_in_client: Client) -> None:
    response = signed_in_client.post(TOKENS_URL, {"name": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_tokens_page_lists_only_ones_working_tokens(
    signed_in_client: Client, user: User
) -> None:
    ApiTokenFactory.create(user=user, name="mine")
    ApiTokenFactory.create(user=user, name="revoked one", revoked_at="2026-01-01T00:00:00Z")
    ApiTokenFactory.create(user=UserFactory.create(), name="someone else's")

    page = signed_in_client.get(TOKENS_URL).content.decode()

    assert "mine" in page
    assert "revoked one" not in page
    assert "someone else" not in page


def test_revoke_from_the_page(signed_in_client: Client, user: User) -> None:
    token = ApiTokenFactory.create(user=user, name="old script")

    response = signed_in_client.post(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 302
    assert response["Location"] == TOKENS_URL
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    followed = signed_in_client.get(TOKENS_URL).content.decode()
    assert "Token “old script” is revoked" in followed


def test_revoking_another_users_token_from_the_page_is_404(signed_in_client: Client) -> None:
    token = ApiTokenFactory.create(user=UserFactory.create())

    response = signed_in_client.post(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_revoke_needs_a_post(signed_in_client: Client, user: User) -> None:
    token = ApiTokenFactory.create(user=user)

    response = signed_in_client.get(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 405
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
