"""A split killed, or cut off from its shard, resumes; misuse gets a clear error."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from ml_models.models import ModelVersion
from predictions.services import predictions_insert
from sql_shards.errors import ShardUnavailableError
from sql_shards.models import Reshard
from sql_shards.resharding import ReshardError, reshard_abort, reshard_plan, reshard_run
from tests.conftest import WorkerProcess, shard_unreachable
from tests.factories import UserFactory
from tests.sql_shards.test_resharding import (
    assert_all_in_place,
    fingerprint,
    layout,
    make_tasks,
    rows_for,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("fresh_layout"),
]

FRESH = {(4, 0, "leader"), (4, 1, "shard_1"), (4, 2, "shard_2"), (4, 3, "shard_3")}


def _fill(detector_version: ModelVersion, tasks: int, rows: int) -> None:
    owner = UserFactory.create()
    predictions_insert(
        rows=[
            row
            for task in make_tasks(owner, tasks)
            for row in rows_for(task.pk, detector_version, rows, 0.5)
        ]
    )


def test_a_split_killed_mid_copy_resumes(detector_version: ModelVersion, tmp_path: Path) -> None:
    _fill(detector_version, 200, 60)
    before = fingerprint()
    command = [sys.executable, "manage.py", "shards", "split", "2", "--to", "shard_3"]
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [*command, "--batch-size", "20"],
        env=WorkerProcess(tmp_path / "unused.log").environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not Reshard.objects.filter(rows_copied__gt=0).exists():
            assert process.poll() is None, "the split ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    killed = Reshard.objects.get()
    assert killed.state == Reshard.State.COPYING
    assert killed.rows_copied > 0
    # Until the switch-over the old partition serves everything.
    assert layout() == FRESH
    assert fingerprint() == before

    # Another split is refused while this one is unfinished...
    with pytest.raises(ReshardError, match="unfinished"):
        reshard_plan(kind="split", remainder=1, destination="shard_3")
    # ...and running the same one again finishes it.
    resumed = reshard_run(plan=reshard_plan(kind="split", remainder=2, destination="shard_3"))
    assert resumed.pk == killed.pk
    assert resumed.state == Reshard.State.VERIFIED
    assert resumed.rows_copied >= killed.rows_copied
    assert {(8, 2, "shard_2"), (8, 6, "shard_3")} <= layout()
    assert fingerprint() == before
    assert_all_in_place()


def test_a_shard_down_mid_split_is_named_then_the_split_resumes(
    detector_version: ModelVersion,
) -> None:
    _fill(detector_version, 60, 20)
    before = fingerprint()
    plan = reshard_plan(kind="split", remainder=1, destination="shard_2")
    with ExitStack() as down:
        broken: list[int] = []

        def cut_off(reshard: Reshard) -> None:
            # After the first batch, the destination goes away.
            if reshard.rows_copied and not broken:
                broken.append(reshard.rows_copied)
                down.enter_context(shard_unreachable("shard_2"))

        with pytest.raises(ShardUnavailableError, match="shard_2"):
            reshard_run(plan=plan, batch_size=50, progress=cut_off)
        copied = Reshard.objects.get().rows_copied
        assert 0 < copied < sum(rows for rows, _ in before.values())
    assert Reshard.objects.get().state == Reshard.State.COPYING
    assert layout() == FRESH

    resumed = reshard_run(plan=reshard_plan(kind="split", remainder=1, destination="shard_2"))
    assert resumed.state == Reshard.State.VERIFIED
    assert fingerprint() == before
    assert_all_in_place()


def test_plan_prints_the_steps_and_changes_nothing(detector_version: ModelVersion) -> None:
    _fill(detector_version, 20, 5)
    out = io.StringIO()
    call_command("shards", "split", "3", "--to", "leader", "--plan", stdout=out)
    text = out.getvalue()
    assert "create predictions_prediction_m8r3_shard_3 (3 of 8) on shard_3" in text
    assert "create predictions_prediction_m8r7 (7 of 8) on leader" in text
    assert not Reshard.objects.exists()
    assert layout() == FRESH


def test_misuse_gets_clear_errors() -> None:
    with pytest.raises(CommandError, match="No partition with remainder 9"):
        call_command("shards", "split", "9", "--to", "shard_1")
    with pytest.raises(CommandError, match="No partition with remainder 1 of 8"):
        call_command("shards", "split", "1", "--modulus", "8", "--to", "shard_1")
    with pytest.raises(CommandError, match="No server named 'shard_9'"):
        call_command("shards", "move", "1", "--to", "shard_9")
    with pytest.raises(CommandError, match="already on shard_1"):
        call_command("shards", "move", "1", "--to", "shard_1")
    with shard_unreachable("shard_3"), pytest.raises(CommandError, match="shard_3"):
        call_command("shards", "move", "1", "--to", "shard_3")

    # A split running elsewhere holds the lock.
    database = settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    ) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('sql_shards.reshard'))")
        with pytest.raises(CommandError, match="running now"):
            call_command("shards", "split", "1", "--to", "shard_3")
    assert layout() == FRESH


def test_abort_before_the_switch_removes_what_it_built(detector_version: ModelVersion) -> None:
    _fill(detector_version, 40, 5)
    before = fingerprint()

    def stop(reshard: Reshard) -> None:
        raise KeyboardInterrupt  # as Ctrl-C after the first batch

    with pytest.raises(KeyboardInterrupt):
        reshard_run(
            plan=reshard_plan(kind="split", remainder=0, destination="shard_1"),
            batch_size=10,
            progress=stop,
        )
    reshard = Reshard.objects.get()
    assert reshard_abort(reshard_id=reshard.pk).state == Reshard.State.ABORTED
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'predictions_reshard%%'")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'predictions_reshard%%'")
        assert cursor.fetchone() == (0,)
    with connections["shard_1"].cursor() as cursor:
        cursor.execute("SELECT to_regclass('predictions_prediction_m8r4')")
        assert cursor.fetchone() == (None,)
    assert layout() == FRESH
    assert fingerprint() == before
    # Aborted, the same split can start again from scratch.
    done = reshard_run(plan=reshard_plan(kind="split", remainder=0, destination="shard_1"))
    assert done.state == Reshard.State.VERIFIED
    assert fingerprint() == before


def test_status_and_verify_show_mixed_moduli(detector_version: ModelVersion) -> None:
    _fill(detector_version, 30, 4)
    reshard_run(plan=reshard_plan(kind="split", remainder=2, destination="leader"))

    status = io.StringIO()
    call_command("shards", "status", stdout=status)
    assert "2/8" in status.getvalue()
    assert "6/8" in status.getvalue()
    assert "0/4" in status.getvalue()
    assert "kept: predictions_prediction_p2, the detached source of split" in status.getvalue()
    verify = io.StringIO()
    call_command("shards", "verify", stdout=verify)
    assert "partition 6 of 8 on leader" in verify.getvalue()
    assert "partition 2 of 8 on vision_shard_2" in verify.getvalue()
    assert "all in place" in verify.getvalue()

    # A shard whose guard is loosened, and a row of another bound written there behind
    # the leader's back: the row is found.
    with connections["shard_2"].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE predictions_prediction_m8r2_loose "
            "PARTITION OF predictions_prediction_m8r2 FOR VALUES WITH (MODULUS 8, REMAINDER 3)"
        )
        cursor.execute(
            "INSERT INTO predictions_prediction_m8r2 (task_id, id, kind, score, model_version_id) "
            "VALUES (%s, -1, 'object', 0, 0)",
            [_task_id_in(8, 3)],
        )
    verify = io.StringIO()
    with pytest.raises(CommandError, match="failed verification"):
        call_command("shards", "verify", stdout=verify)
    assert "1 task(s) whose hash names another partition" in verify.getvalue()


def _task_id_in(modulus: int, remainder: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT candidate FROM generate_series(1, 100) AS candidate "
            "WHERE satisfies_hash_partition('predictions_prediction'::regclass, %s, %s, "
            "candidate::bigint) LIMIT 1",
            [modulus, remainder],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_add_server_split_onto_it_and_remove_it(
    detector_version: ModelVersion, spare_server: str
) -> None:
    with pytest.raises(CommandError, match="unavailable"):
        call_command("shards", "add-server", "shard_4", spare_server.replace("_spare", "_none"))
    call_command("shards", "add-server", "shard_4", spare_server, stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("shards", "add-server", "shard_4", spare_server)

    _fill(detector_version, 40, 5)
    before = fingerprint()
    reshard_run(plan=reshard_plan(kind="split", remainder=3, destination="shard_4"))
    assert (8, 7, "shard_4") in layout()
    assert fingerprint() == before
    assert_all_in_place()

    with pytest.raises(CommandError, match="still holds predictions_prediction_m8r7_shard_4"):
        call_command("shards", "remove-server", "shard_4")
    reshard_run(
        plan=reshard_plan(kind="move", remainder=7, modulus=8, destination="shard_3"),
        drop_source=True,
    )
    assert fingerprint() == before
    call_command("shards", "remove-server", "shard_4", stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_foreign_server WHERE srvname = 'vision_shard_4'")
        assert cursor.fetchone() == (0,)


def test_the_source_is_dropped_later_only_when_asked(detector_version: ModelVersion) -> None:
    _fill(detector_version, 30, 4)
    before = fingerprint()
    reshard_run(plan=reshard_plan(kind="split", remainder=0, destination="leader"))
    out = io.StringIO()
    call_command("shards", "split", "4", "--modulus", "8", "--to", "leader", stdout=out)
    assert "--modulus 8 --to leader --drop-source" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('predictions_prediction_m8r4') IS NOT NULL")
        assert cursor.fetchone() == (True,)

    call_command(
        "shards", "split", "4", "--modulus", "8", "--to", "leader", "--drop-source", stdout=out
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('predictions_prediction_m8r4') IS NOT NULL")
        assert cursor.fetchone() == (False,)
    assert Reshard.objects.get(source_table="predictions_prediction_m8r4").state == "done"
    assert {(8, 0, "leader"), (16, 4, "leader"), (16, 12, "leader")} <= layout()
    assert fingerprint() == before
