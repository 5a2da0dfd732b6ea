"""``manage.py shards``: the health, placement and growth of the predictions partitions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from sql_shards.errors import ShardUnavailableError
from sql_shards.models import Reshard
from sql_shards.resharding import (
    BATCH_SIZE,
    ReshardError,
    reshard_abort,
    reshard_plan,
    reshard_run,
)
from sql_shards.selectors import prediction_partitions
from sql_shards.services import (
    ServerError,
    databases_create,
    layout_coverage,
    reshards_keeping_source,
    reshards_unfinished,
    server_add,
    server_remove,
    shards_status,
    shards_verify,
)


class Command(BaseCommand):
    help = (
        "status: each partition's bound, server, health, rows and round trip; "
        "verify: check every row sits on the partition its hash names; "
        "createdb: create the leader and shard databases that are missing; "
        "split / move: grow or rebalance one partition online; abort: undo one before "
        "its switch-over; add-server / remove-server: the foreign servers partitions use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("status")
        actions.add_parser("verify")
        actions.add_parser("createdb")
        for kind, text in (
            (Reshard.Kind.SPLIT, "split a partition into two of twice its modulus"),
            (Reshard.Kind.MOVE, "move a partition to another server"),
        ):
            action = actions.add_parser(kind, help=text)
            action.add_argument("remainder", type=int)
            action.add_argument("--modulus", type=int, help="the partition's modulus, checked")
            action.add_argument("--to", required=True, help="'leader' or a server's name (shard_2)")
            action.add_argument("--plan", action="store_true", help="print the plan only")
            action.add_argument(
                "--drop-source",
                action="store_true",
                help="drop the old partition once the new ones are verified",
            )
            action.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        abort = actions.add_parser("abort", help="undo a split or move before its switch-over")
        abort.add_argument("reshard_id", type=int)
        add = actions.add_parser("add-server")
        add.add_argument("name")
        add.add_argument("url", help="postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME")
        remove = actions.add_parser("remove-server")
        remove.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "status":
                self._status()
            elif action == "verify":
                self._verify()
            elif action == "createdb":
                for alias, name, created in databases_create():
                    self.stdout.write(f"{alias}: {name} {'created' if created else 'exists'}")
            elif action in (Reshard.Kind.SPLIT, Reshard.Kind.MOVE):
                self._reshard(action, options)
            elif action == "abort":
                self.stdout.write(f"{reshard_abort(reshard_id=options['reshard_id'])}")
            elif action == "add-server":
                server = server_add(name=options["name"], url=options["url"])
                self.stdout.write(self.style.SUCCESS(f"{server} added and reachable"))
            else:
                server_remove(name=options["name"])
                self.stdout.write(self.style.SUCCESS(f"{options['name']} removed"))
        except (ReshardError, ServerError, ShardUnavailableError) as error:
            raise CommandError(str(error)) from error

    def _reshard(self, kind: str, options: dict[str, Any]) -> None:
        plan = reshard_plan(
            kind=kind,
            remainder=options["remainder"],
            modulus=options["modulus"],
            destination=options["to"],
        )
        for line in plan.steps():
            self.stdout.write(line)
        if options["plan"]:
            return

        def progress(reshard: Reshard) -> None:
            self.stdout.write(
                f"\r{reshard.state}: {reshard.rows_copied} rows copied, "
                f"{reshard.tasks_replayed} tasks replayed",
                ending="",
            )
            self.stdout.flush()

        try:
            reshard = reshard_run(
                plan=plan,
                drop_source=options["drop_source"],
                batch_size=options["batch_size"],
                progress=progress,
            )
        except (ShardUnavailableError, DatabaseError) as error:
            raise CommandError(
                f"{str(error).strip()}. Run the same command again to resume."
            ) from error
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"{reshard}: {reshard.rows_copied} rows copied, {reshard.tasks_replayed} "
                f"tasks replayed, switch-over {reshard.switch_ms or 0:.1f} ms, "
                f"{reshard.source_rows} source rows verified"
            )
        )
        if reshard.state != Reshard.State.DONE:
            self.stdout.write(
                f"The source {reshard.source_table} is kept; drop it with `manage.py shards "
                f"{kind} {reshard.source_remainder} --modulus {reshard.source_modulus} "
                f"--to {reshard.destination} --drop-source`."
            )

    def _status(self) -> None:
        header = f"{'part':<9}{'server':<58}{'answers':<9}{'rows':>10}{'rtt ms':>10}"
        self.stdout.write(header)
        down = 0
        for status in shards_status():
            rows = "-" if status.rows is None else str(status.rows)
            rtt = "-" if status.round_trip_ms is None else f"{status.round_trip_ms:.2f}"
            answers = "yes" if status.answers else "NO"
            bound = f"{status.partition.remainder}/{status.partition.modulus}"
            self.stdout.write(f"{bound:<9}{status.server:<58}{answers:<9}{rows:>10}{rtt:>10}")
            if status.error:
                down += 1
                self.stdout.write(self.style.ERROR(f"      {status.error}"))
        for reshard in reshards_unfinished():
            self.stdout.write(self.style.WARNING(f"unfinished: {reshard}"))
        for reshard in reshards_keeping_source():
            self.stdout.write(
                f"kept: {reshard.source_table}, the detached source of {reshard} "
                f"({reshard.source_rows} rows)"
            )
        if down:
            raise CommandError(f"{down} partition(s) do not answer.")

    def _verify(self) -> None:
        failures = 0
        coverage = layout_coverage(prediction_partitions())
        if coverage != 1:
            failures += 1
            self.stdout.write(
                self.style.ERROR(f"the partitions cover {coverage} of the hash space, not all")
            )
        for check in shards_verify():
            where = f"partition {check.remainder} of {check.modulus} on {check.server}"
            if check.ok:
                self.stdout.write(
                    self.style.SUCCESS(f"{where}: {check.rows_checked} rows, all in place")
                )
                continue
            failures += 1
            problems = []
            if check.error:
                problems.append(f"unreachable: {check.error}")
            if not check.guard_ok:
                problems.append("its guard does not limit it to its own bound")
            if check.misplaced_tasks:
                shown = ", ".join(str(task_id) for task_id in check.misplaced_tasks[:20])
                problems.append(
                    f"{len(check.misplaced_tasks)} task(s) whose hash names another "
                    f"partition: {shown}"
                )
            self.stdout.write(self.style.ERROR(f"{where}: ") + "; ".join(problems))
        if failures:
            raise CommandError(f"{failures} check(s) failed verification.")
