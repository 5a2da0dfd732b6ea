from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, User
from accounts.services import api_token_revoke


class ApiTokenInline(admin.TabularInline[ApiToken, User]):
    """A user's tokens, read-only: keys are made by their owner or by create_token."""

    model = ApiToken
    fields = ("name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(
        self,
        request: HttpRequest,
        obj: User | None = None,  # pylint: disable=unused-argument
    ) -> bool:
        return False


@admin.register(User)
class AccountUserAdmin(UserAdmin[User]):
    inlines = (ApiTokenInline,)


class ApiTokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[ApiToken]
    ) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "is_active")
    list_filter = (ApiTokenStatusFilter, "created_at", "last_used_at")
    search_fields = ("name", "key_prefix", "user__username", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "user",
        "name",
        "key_prefix",
        "key_hash",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = ("user", "key_prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key must be shown to its owner exactly once: the Tokens page or
        # ``manage.py create_token`` make them, the admin does not.
        return False

    @admin.display(boolean=True, description="active", ordering="revoked_at")
    def is_active(self, token: ApiToken) -> bool:
        return not token.is_revoked

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            api_token_revoke(token=token)
        self.message_user(request, f"{len(tokens)} token(s) revoked.", messages.SUCCESS)
