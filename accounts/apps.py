from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # Registers the OpenAPI description of ApiTokenAuthentication.
        from accounts import schema  # noqa: F401  # pylint: disable=unused-import
