"""Upload over the API → real worker → predictions on the right shard → SPEC.md JSON.

Also: a worker killed mid-batch (SIGKILL), Redis stopped during an upload, and both lost
at once lose nothing, and nothing is ever stored twice.
"""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from ml_models.training.synthetic import SceneGenerator
from predictions.delivery import tasks_enqueue
from predictions.models import Prediction, Task
from sql_shards.selectors import partition_remainder_for_task
from tests.conftest import RedisServer, WorkerProcess, shard_unreachable
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FINISHED = {Task.Status.DONE, Task.Status.FAILED}


def _client() -> tuple[APIClient, User]:
    user: User = UserFactory.create()
    _, key = api_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, user


def _images(count: int, seed: int = 7) -> list[io.BytesIO]:
    generator = SceneGenerator(seed=seed)
    files = []
    for index in range(count):
        buffer = io.BytesIO()
        generator.sample(index).image.convert("RGB").save(buffer, format="JPEG", quality=90)
        buffer.seek(0)
        buffer.name = f"scene-{index}.jpg"
        files.append(buffer)
    return files


def _wait_finished(task_ids: list[int], timeout: float = 180.0) -> list[Task]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = list(Task.objects.filter(pk__in=task_ids).order_by("pk"))
        if all(task.status in FINISHED for task in tasks):
            return tasks
        time.sleep(0.25)
    states = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "status"))
    raise AssertionError(f"Tasks did not finish in {timeout}s: {states}")


def _rows_on_its_shard(task_id: int) -> list[tuple[Any, ...]]:
    remainder = partition_remainder_for_task(task_id=task_id)
    alias = "default" if remainder == 0 else settings.SHARD_ALIASES[remainder - 1]
    table = "predictions_prediction_p0" if remainder == 0 else "predictions_prediction"
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT kind, object_class_id, scene_class_id, score, x1, y1, x2, y2 FROM {table} "  # noqa: S608
            "WHERE task_id = %s",
            [task_id],
        )
        return list(cursor.fetchall())


def _assert_stored_once(task: Task) -> None:
    rows = _rows_on_its_shard(task.pk)
    assert rows, f"task {task.pk} has no predictions on its shard"
    assert len(rows) == len(set(rows)), f"task {task.pk} has duplicated predictions"
    assert Prediction.objects.filter(task_id=task.pk).count() == len(rows)


def test_upload_to_results_in_spec_format(celery_worker: WorkerProcess) -> None:
    client, _ = _client()

    response = client.post("/api/v1/tasks/", {"image": _images(3)}, format="multipart")

    assert response.status_code == 202, response.json()
    task_ids = [task["id"] for task in response.json()["tasks"]]
    tasks = _wait_finished(task_ids)
    assert [task.status for task in tasks] == [Task.Status.DONE] * 3
    for task in tasks:
        _assert_stored_once(task)
        body = client.get(f"/api/v1/tasks/{task.pk}/").json()
        assert body["file"].startswith("scene-")
        assert (body["width"], body["height"]) == (task.width, task.height)
        assert body["scene"]["label"] == body["scene"]["top"][0]["label"]
        assert 0.0 <= body["scene"]["score"] <= 1.0
        scores = [entry["score"] for entry in body["objects"]]
        assert scores == sorted(scores, reverse=True)
        for entry in body["objects"]:
            x1, y1, x2, y2 = entry["box"]
            assert 0 <= x1 < x2 <= task.width + 1 and 0 <= y1 < y2 <= task.height + 1
        assert body["models"]["detector"] and body["models"]["scene"]
        assert len(_rows_on_its_shard(task.pk)) == len(body["objects"]) + len(body["scene"]["top"])


def test_rerun_replaces_predictions_without_duplicates(celery_worker: WorkerProcess) -> None:
    client, _ = _client()
    task_id = client.post("/api/v1/tasks/", {"image": _images(1)}, format="multipart").json()[
        "tasks"
    ][0]["id"]
    (task,) = _wait_finished([task_id])
    before = sorted(_rows_on_its_shard(task_id))

    assert client.post(f"/api/v1/tasks/{task_id}/rerun/").status_code == 202
    time.sleep(0.5)
    (rerun,) = _wait_finished([task_id])

    assert rerun.attempts == task.attempts + 1
    assert sorted(_rows_on_its_shard(task_id)) == before


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(celery_worker: WorkerProcess) -> None:
    client, _ = _client()
    response = client.post("/api/v1/tasks/", {"image": _images(24, seed=11)}, format="multipart")
    task_ids = [task["id"] for task in response.json()["tasks"]]
    deadline = time.monotonic() + 120
    while not Task.objects.filter(pk__in=task_ids, status=Task.Status.RUNNING).exists():
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.05)
    running = set(
        Task.objects.filter(pk__in=task_ids, status=Task.Status.RUNNING).values_list(
            "pk", flat=True
        )
    )

    celery_worker.kill()
    celery_worker.start()

    tasks = _wait_finished(task_ids, timeout=240)
    assert [task.status for task in tasks] == [Task.Status.DONE] * len(task_ids)
    for task in tasks:
        _assert_stored_once(task)
    assert all(task.attempts >= 2 for task in tasks if task.pk in running)


def test_redis_stopped_during_upload_keeps_the_task_until_it_completes(
    celery_worker: WorkerProcess, redis_server: RedisServer
) -> None:
    client, _ = _client()
    redis_server.stop()
    try:
        response = client.post("/api/v1/tasks/", {"image": _images(2, seed=3)}, format="multipart")
    finally:
        redis_server.start()

    assert response.status_code == 202
    assert "will run automatically" in response.json()["message"]
    task_ids = [task["id"] for task in response.json()["tasks"]]
    assert list(Task.objects.filter(pk__in=task_ids).values_list("status", flat=True)) == [
        "queued",
        "queued",
    ]

    tasks = _wait_finished(task_ids, timeout=180)

    assert [task.status for task in tasks] == [Task.Status.DONE] * 2
    for task in tasks:
        _assert_stored_once(task)


def test_redis_and_worker_lost_together_all_tasks_finish_soon_after_both_are_back(
    celery_worker: WorkerProcess, redis_server: RedisServer
) -> None:
    client, _ = _client()
    # More than one batch: some tasks are running on the worker, the rest wait in Redis.
    count = settings.INFERENCE_BATCH_SIZE + 4
    response = client.post("/api/v1/tasks/", {"image": _images(count, seed=13)}, format="multipart")
    task_ids = [task["id"] for task in response.json()["tasks"]]
    deadline = time.monotonic() + 120
    while not Task.objects.filter(pk__in=task_ids, status=Task.Status.RUNNING).exists():
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.05)

    celery_worker.kill()
    redis_server.stop()  # the tests' Redis never saves: its messages are gone
    redis_server.start()
    celery_worker.start()

    tasks = _wait_finished(task_ids, timeout=30)
    assert [task.status for task in tasks] == [Task.Status.DONE] * count
    for task in tasks:
        _assert_stored_once(task)


def test_a_down_shard_delays_only_its_own_tasks(celery_worker: WorkerProcess) -> None:
    client, _ = _client()
    with shard_unreachable("shard_2"):
        response = client.post("/api/v1/tasks/", {"image": _images(12, seed=5)}, format="multipart")
        task_ids = [task["id"] for task in response.json()["tasks"]]
        on_shard_2 = {
            task_id for task_id in task_ids if partition_remainder_for_task(task_id=task_id) == 2
        }
        others = [task_id for task_id in task_ids if task_id not in on_shard_2]
        assert on_shard_2 and others, "the batch must span shard_2 and other partitions"

        _wait_finished(others)
        waiting = Task.objects.filter(pk__in=on_shard_2)
        assert {task.status for task in waiting} <= {Task.Status.QUEUED, Task.Status.RUNNING}
        assert any("shard_2" in task.error for task in waiting)

    tasks = _wait_finished(task_ids, timeout=240)
    assert [task.status for task in tasks] == [Task.Status.DONE] * len(task_ids)


def test_an_unreadable_image_fails_with_its_reason(celery_worker: WorkerProcess) -> None:
    client, user = _client()
    task_id = client.post(
        "/api/v1/tasks/", {"image": _images(1, seed=9)}, format="multipart"
    ).json()["tasks"][0]["id"]
    _wait_finished([task_id])
    broken = TaskFactory.create(owner=user, image="originals/missing.jpg")
    tasks_enqueue(task_ids=[broken.pk])

    (task,) = _wait_finished([broken.pk])

    assert task.status == Task.Status.FAILED
    assert "could not be read" in task.error
    assert client.get(f"/api/v1/tasks/{broken.pk}/").json()["error"] == task.error


def test_wait_returns_finished_results_inline(celery_worker: WorkerProcess) -> None:
    client, _ = _client()

    response = client.post(
        "/api/v1/tasks/", {"image": _images(1, seed=13), "wait": 10}, format="multipart"
    )

    (task,) = response.json()["tasks"]
    assert task["status"] == "done", task
    assert {"file", "width", "height", "scene", "objects", "models"} <= task.keys()
