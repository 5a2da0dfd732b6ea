"""Sharded ingest, and a split under load (a script, not a test).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/shards.py [--rows 1000000] [--keep]

It builds its own leader and three shard databases (``test_bench_shards*``, dropped at
the end unless ``--keep``) on the PostgreSQL of ``DATABASE_URL``'s host, migrates them
like a fresh install, and measures in one run:

a. ingest: ``--rows`` predictions stored with the worker's own statement
   (``predictions_insert``: one multi-row ``INSERT ... SELECT unnest(...)`` per batch of
   tasks) through the partitioned parent into its 4 partitions (3 foreign), against the
   same rows and statement into a table of 4 local partitions: rows/s and the ratio;
b. a split of one partition (``shards split 1 --to shard_2``) while writer processes
   store tasks through the worker's write path (``predictions_replace``) and reader
   processes look tasks up (``predictions_for_task``): rows copied per second, total
   time, the switch-over, and p50/p99/p100 of the writes' and lookups' latencies during
   the split against before it;
c. nothing lost, duplicated or misplaced: count and checksum of ``(task_id, id)`` per
   task before and after (the tasks the load wrote checked against what it wrote), and
   ``shards verify``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vision_site.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH_DATABASE = "test_bench_shards"
_LEADER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vision_site")
os.environ["DATABASE_URL"] = _LEADER_URL.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"
for _index in (1, 2, 3):
    os.environ.pop(f"SHARD_{_index}_URL", None)

import django  # noqa: E402  # pylint: disable=wrong-import-position

django.setup()

# pylint: disable=wrong-import-position
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

from accounts.models import User  # noqa: E402
from ml_models.models import ModelVersion  # noqa: E402
from predictions.models import Task  # noqa: E402
from predictions.selectors import predictions_for_task  # noqa: E402
from predictions.services import (  # noqa: E402
    _INSERT_SQL,
    PredictionRow,
    insert_params,
    predictions_insert,
    predictions_replace,
)
from sql_shards.resharding import BATCH_SIZE, reshard_plan, reshard_run  # noqa: E402
from sql_shards.services import maintenance_connection, shards_verify  # noqa: E402

ROWS_PER_TASK = 10
TASKS_PER_STATEMENT = 100  # the worker stores a batch of tasks with one statement


def _databases() -> list[str]:
    return [settings.DATABASES[alias]["NAME"] for alias in ["default", *settings.SHARD_ALIASES]]


def databases_drop() -> None:
    connection.close()
    with maintenance_connection() as maintenance:
        for name in _databases():
            assert name.startswith("test_")
            maintenance.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )


def install() -> None:
    """A fresh install: the four databases created and migrated as ``make migrate`` does."""
    databases_drop()
    call_command("shards", "createdb", verbosity=0)
    for alias in settings.SHARD_ALIASES:
        call_command("migrate", database=alias, verbosity=0)
    call_command("migrate", verbosity=0)


def _rows(task_ids: list[int], version_id: int, score: float) -> list[PredictionRow]:
    return [
        PredictionRow(
            task_id=task_id,
            kind="object",
            score=score,
            model_version_id=version_id,
            box=(1.0, 2.0, 3.0 + index, 4.0),
        )
        for task_id in task_ids
        for index in range(ROWS_PER_TASK)
    ]


def tasks_create(count: int) -> list[int]:
    owner, _ = User.objects.get_or_create(username="bench")
    created = Task.objects.bulk_create(
        [Task(owner=owner, content_hash="0" * 64, width=1, height=1) for _ in range(count)],
        batch_size=5000,
    )
    return [task.pk for task in created]


def _local_table_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_local")
        cursor.execute(
            "CREATE TABLE bench_local (LIKE predictions_prediction INCLUDING DEFAULTS) "
            "PARTITION BY HASH (task_id)"
        )
        for remainder in range(4):
            cursor.execute(
                f"CREATE TABLE bench_local_p{remainder} PARTITION OF bench_local "
                f"FOR VALUES WITH (MODULUS 4, REMAINDER {remainder})"
            )
            cursor.execute(f"ALTER TABLE bench_local_p{remainder} ADD PRIMARY KEY (task_id, id)")


def _local_insert(rows: list[PredictionRow]) -> None:
    """``predictions_insert``'s statement, aimed at the local table."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL.replace("predictions_prediction", "bench_local"), insert_params(rows)
        )


def ingest(task_ids: list[int], version_id: int) -> tuple[float, float]:
    """Rows/s through the sharded parent, then into 4 local partitions."""
    _local_table_create()
    rates = []
    for insert in (lambda rows: predictions_insert(rows=rows), _local_insert):
        started = time.perf_counter()
        for start in range(0, len(task_ids), TASKS_PER_STATEMENT):
            insert(_rows(task_ids[start : start + TASKS_PER_STATEMENT], version_id, 0.5))
        rates.append(len(task_ids) * ROWS_PER_TASK / (time.perf_counter() - started))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_local")
    return rates[0], rates[1]


def fingerprint() -> dict[int, tuple[int, Decimal]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id, count(*), sum(hashint8extended(id, task_id)) "
            "FROM predictions_prediction GROUP BY task_id"
        )
        return {int(task): (int(rows), Decimal(total)) for task, rows, total in cursor.fetchall()}


def load(
    role: str,
    task_ids: list[int],
    version_id: int,
    stop: Event,
    results: Queue[Any],
) -> None:
    """One load process: writes (``predictions_replace`` of one new task's rows, as the
    worker stores a result) or lookups (``predictions_for_task``), timed one by one."""
    chooser = random.Random(os.getpid())
    timings: list[tuple[float, float]] = []
    written: dict[int, float] = {}
    position = 0
    while not stop.is_set():
        started = time.perf_counter()
        if role == "writer":
            task_id = task_ids[position % len(task_ids)]
            position += 1
            score = float(position)
            predictions_replace(task_ids=[task_id], rows=_rows([task_id], version_id, score))
            written[task_id] = score
        else:
            predictions_for_task(task_id=chooser.choice(task_ids))
        timings.append((started, time.perf_counter() - started))
        time.sleep(0.005)  # a steady load, not a saturating one: two cores are shared
    results.put((role, timings, written))


def _percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "no samples"
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(ordered)} p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, p100 {ordered[-1] * 1000:.1f} ms"
    )


def split_under_load(
    old_tasks: list[int], new_tasks: list[int], version_id: int, baseline_s: float, batch: int
) -> None:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results: Queue[Any] = context.Queue()
    writers = [new_tasks[: len(new_tasks) // 2], new_tasks[len(new_tasks) // 2 :]]
    processes = [
        context.Process(target=load, args=("writer", share, version_id, stop, results))
        for share in writers
    ] + [context.Process(target=load, args=("reader", old_tasks, version_id, stop, results))]
    for process in processes:
        process.start()
    time.sleep(baseline_s + 5)  # the processes' own start (Django) is not measured
    split_started = time.perf_counter()
    copy_started = split_ended = 0.0
    phases: dict[str, float] = {}

    def progress(reshard: Any) -> None:
        phases.setdefault(reshard.state, time.perf_counter())

    plan = reshard_plan(kind="split", remainder=1, destination="shard_2")
    copy_started = time.perf_counter()
    reshard = reshard_run(plan=plan, progress=progress, batch_size=batch)
    split_ended = time.perf_counter()
    time.sleep(2)
    stop.set()
    collected = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    copy_s = phases.get("catching_up", split_ended) - copy_started
    print(
        f"(b) split of 1 of 4 (shard_1) into 1 of 8 (shard_1) + 5 of 8 (shard_2), "
        f"batches of {batch} rows: "
        f"{reshard.rows_copied} rows copied in {copy_s:.2f} s = "
        f"{reshard.rows_copied / copy_s:,.0f} rows/s; {reshard.tasks_replayed} tasks "
        f"replayed; total {split_ended - split_started:.2f} s; switch-over "
        f"{reshard.switch_ms:.1f} ms (lock held)"
    )
    written: dict[int, float] = {}
    switched = phases["switched"]
    for role in ("writer", "reader"):
        before, during, at_switch = [], [], []
        for got_role, timings, got_written in collected:
            if got_role != role:
                continue
            written.update(got_written)
            for started, took in timings:
                if split_started - baseline_s <= started < split_started:
                    before.append(took)
                elif split_started <= started < split_ended:
                    during.append(took)
                # In flight when the switch-over committed: these waited for its lock.
                if started <= switched <= started + took:
                    at_switch.append(took)
        name = "insert (predictions_replace)" if role == "writer" else "lookup"
        print(f"    {name} before: {_percentiles(before)}")
        print(f"    {name} during: {_percentiles(during)}")
        print(
            f"    {name} in flight at the switch-over: "
            + (", ".join(f"{took * 1000:.1f} ms" for took in at_switch) or "none")
        )
    check_written(written)


def check_written(written: dict[int, float]) -> None:
    """Every task the writers stored holds exactly the rows of its last write."""
    bad = 0
    for task_id, score in written.items():
        scores = [prediction.score for prediction in predictions_for_task(task_id=task_id)]
        bad += scores != [score] * ROWS_PER_TASK
    print(f"    tasks written under load: {len(written)}, holding other rows than written: {bad}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds before the split")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows per copy batch")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()

    install()
    try:
        version_id = ModelVersion.objects.filter(kind="detector").values_list("pk", flat=True)[0]
        task_ids = tasks_create(args.rows // ROWS_PER_TASK)
        sharded, local = ingest(task_ids, version_id)
        print(
            f"(a) ingest of {args.rows:,} rows in statements of {TASKS_PER_STATEMENT} tasks: "
            f"4 partitions (3 foreign, batch_size {settings.SHARD_FDW_BATCH_SIZE}) "
            f"{sharded:,.0f} rows/s, 4 local {local:,.0f} rows/s: ratio {sharded / local:.2f}"
        )
        before = fingerprint()
        new_tasks = tasks_create(2000)
        split_under_load(task_ids, new_tasks, version_id, args.baseline, args.batch_size)
        after = fingerprint()
        changed = [task for task in task_ids if after.get(task) != before.get(task)]
        checks = shards_verify()
        print(
            f"(c) {len(task_ids):,} tasks loaded before the split: {len(changed)} differ in "
            f"count or checksum of (task_id, id) after it; shards verify: "
            + ("all in place" if all(check.ok for check in checks) else f"FAILED {checks}")
        )
        call_command("shards", "status")
    finally:
        if not args.keep:
            databases_drop()


if __name__ == "__main__":
    main()
