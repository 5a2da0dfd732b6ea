"""Pages for signing up, in and out, changing a password and managing API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.messages.views import SuccessMessageMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.generic import FormView

from accounts.forms import ApiTokenCreateForm, SignUpForm
from accounts.models import User
from accounts.selectors import api_tokens_for_user
from accounts.services import api_token_create, api_token_revoke, user_create, user_validate


def _user(request: HttpRequest) -> User:
    # LoginRequiredMixin has already turned anonymous users away; this tells mypy so.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


class SignUpView(FormView[SignUpForm]):
    """Create an account and sign in with it."""

    template_name = "accounts/signup.html"
    form_class = SignUpForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return redirect(settings.LOGIN_REDIRECT_URL)
        return super().dispatch(request, *args, **kwargs)

    def form_invalid(self, form: SignUpForm) -> HttpResponse:
        # Report what the account itself gets wrong (a taken username, a weak password)
        # with the form's own errors, not one round later; fields the form already
        # refused keep their message.
        data = form.cleaned_data
        try:
            user_validate(
                username=data.get("username", ""),
                email=data.get("email", ""),
                password=data.get("password", ""),
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                if field in form.fields and field not in form.errors:
                    form.add_error(field, field_errors)
        return super().form_invalid(form)

    def form_valid(self, form: SignUpForm) -> HttpResponse:
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, f"Welcome, {user.get_username()}: your account is ready.")
        return redirect(resolve_url(settings.LOGIN_REDIRECT_URL))


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    """Sign out (POST only, so that no link or image can sign a user out)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response


class PasswordChangeView(SuccessMessageMixin[Any], auth_views.PasswordChangeView):
    """Change one's password; the session stays signed in, others are signed out."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change")
    success_message = "Your password was changed."


class ApiTokensView(LoginRequiredMixin, View):
    """List, create and revoke one's API tokens; a new key is shown once, after creation.

    The POST redirects (so that a reload cannot create a second token) and hands the key
    to the next GET through the session, which that GET empties: the key rests in the
    session store only between the two requests, and no cache may keep the page.
    """

    template_name = "accounts/tokens.html"
    new_key_session_key = "accounts.new_api_token"

    def get(self, request: HttpRequest) -> HttpResponse:
        shown = request.session.pop(self.new_key_session_key, None)
        if shown is None:
            return self._render(request, form=ApiTokenCreateForm())
        new_token = api_tokens_for_user(user=_user(request)).filter(pk=shown["id"]).first()
        response = self._render(
            request,
            form=ApiTokenCreateForm(),
            new_token=new_token,
            new_key=shown["key"] if new_token is not None else None,
        )
        add_never_cache_headers(response)
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form=form)
        token, key = api_token_create(user=_user(request), name=form.cleaned_data["name"])
        request.session[self.new_key_session_key] = {"id": token.pk, "key": key}
        return redirect("accounts:tokens")

    def _render(self, request: HttpRequest, **context: Any) -> HttpResponse:
        context |= {
            "tokens": api_tokens_for_user(user=_user(request)),
            "tasks_api_url": request.build_absolute_uri("/api/v1/tasks/"),
            "docs_url": reverse("api:docs"),
        }
        return render(request, self.template_name, context)


class ApiTokenRevokeView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, token_id: int) -> HttpResponse:
        token = get_object_or_404(api_tokens_for_user(user=_user(request)), pk=token_id)
        api_token_revoke(token=token)
        messages.success(request, f"Token “{token.name}” is revoked; its key no longer works.")
        return redirect("accounts:tokens")
