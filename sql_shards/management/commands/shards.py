"""``manage.py shards status|verify``: the health and the placement of the partitions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sql_shards.services import databases_create, shards_status, shards_verify


class Command(BaseCommand):
    help = (
        "status: each predictions partition's server, health, rows and round trip; "
        "verify: check every row sits on the partition its hash names; "
        "createdb: create the leader and shard databases that are missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "verify", "createdb"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status()
        elif options["action"] == "verify":
            self._verify()
        else:
            for alias, name, created in databases_create():
                self.stdout.write(f"{alias}: {name} {'created' if created else 'exists'}")

    def _status(self) -> None:
        header = f"{'part':<5}{'server':<58}{'answers':<9}{'rows':>10}{'rtt ms':>10}"
        self.stdout.write(header)
        down = 0
        for status in shards_status():
            rows = "-" if status.rows is None else str(status.rows)
            rtt = "-" if status.round_trip_ms is None else f"{status.round_trip_ms:.2f}"
            answers = "yes" if status.answers else "NO"
            self.stdout.write(
                f"{status.remainder:<5}{status.server:<58}{answers:<9}{rows:>10}{rtt:>10}"
            )
            if status.error:
                down += 1
                self.stdout.write(self.style.ERROR(f"      {status.error}"))
        if down:
            raise CommandError(f"{down} partition(s) do not answer.")

    def _verify(self) -> None:
        failures = 0
        for check in shards_verify():
            if check.ok:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"partition {check.remainder} on {check.server}: "
                        f"{check.rows_checked} rows, all in place"
                    )
                )
                continue
            failures += 1
            problems = []
            if check.error:
                problems.append(f"unreachable: {check.error}")
            if not check.guard_ok:
                problems.append("its guard does not limit it to its own remainder")
            if check.misplaced_tasks:
                shown = ", ".join(str(task_id) for task_id in check.misplaced_tasks[:20])
                problems.append(
                    f"{len(check.misplaced_tasks)} task(s) whose hash names another "
                    f"partition: {shown}"
                )
            self.stdout.write(
                self.style.ERROR(f"partition {check.remainder} on {check.server}: ")
                + "; ".join(problems)
            )
        if failures:
            raise CommandError(f"{failures} partition(s) failed verification.")
