"""``manage.py submit PATH...``: upload images over the API and write their results."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_by_username
from accounts.services import api_token_create
from predictions.client import ClientError, VisionClient, image_paths, write_csv, write_jsonl


class Command(BaseCommand):
    help = "Upload image files or folders over the API, wait for results, write JSON lines or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--url", default=os.environ.get("VISION_URL", "http://127.0.0.1:8000"))
        parser.add_argument("--token", default=os.environ.get("VISION_TOKEN"))
        parser.add_argument("--user", help="Create a token for this user instead of --token.")
        parser.add_argument("-o", "--output", help="Results file (default: standard output).")
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--wait", type=float, default=600.0)

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"]
        if options["user"]:
            user = user_by_username(username=options["user"])
            if user is None:
                raise CommandError(f"No user named {options['user']!r}.")
            _, token = api_token_create(user=user, name="manage.py submit")
        if not token:
            raise CommandError("Give --token (or VISION_TOKEN) or --user.")
        paths = image_paths(options["paths"])
        if not paths:
            raise CommandError("No image files found in the given paths.")
        try:
            outcome = VisionClient(options["url"], token).submit(paths, wait=options["wait"])
        except (ClientError, OSError) as error:
            raise CommandError(str(error)) from error
        writer = write_csv if options["format"] == "csv" else write_jsonl
        if options["output"]:
            with Path(options["output"]).open("w", encoding="utf-8", newline="") as stream:
                writer(outcome.results, stream)
        else:
            writer(outcome.results, sys.stdout)
        for rejected in outcome.rejected:
            sys.stderr.write(f"error: {rejected['file']}: {rejected['error']}\n")
        failed = [t for t in outcome.results if t["status"] != "done"]
        if outcome.rejected or failed:
            raise CommandError(f"{len(outcome.rejected) + len(failed)} file(s) were not analysed.")
