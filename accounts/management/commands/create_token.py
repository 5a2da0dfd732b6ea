"""``manage.py create_token USER [--name NAME]``: print a new API key, for scripts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_by_username
from accounts.services import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for USER and print its key, alone, on stdout "
        "(it cannot be shown again). Example: KEY=$(manage.py create_token alice)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", metavar="USER", help="The user the token belongs to.")
        parser.add_argument(
            "--name", default="command line", help="What the token is for (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        user = user_by_username(username=username)
        if user is None:
            raise CommandError(
                f"No user named {username!r}. Create one first "
                "(manage.py createsuperuser, or sign up on the site)."
            )
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: its tokens would not work.")
        _token, key = api_token_create(user=user, name=options["name"])
        self.stdout.write(key)
