"""4 -> 8 partitions, all four split, while a real worker stores results and the API
reads them: every task finishes, once, readable wherever its rows moved."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=unused-argument

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import api_token_create
from ml_models.models import ModelVersion
from predictions.models import Prediction, Task
from predictions.services import predictions_insert
from sql_shards.models import Reshard
from sql_shards.resharding import reshard_plan, reshard_run
from tests.conftest import WorkerProcess
from tests.factories import UserFactory
from tests.predictions.test_end_to_end import _images, _wait_finished
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


class Reader(threading.Thread):
    """Reads the tasks over the API until stopped; keeps every answer that is not 200."""

    def __init__(self, client: APIClient, task_ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.task_ids = task_ids
        self.stop = threading.Event()
        self.reads = 0
        self.failures: list[tuple[int, int]] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for task_id in self.task_ids:
                    status = self.client.get(f"/api/v1/tasks/{task_id}/").status_code
                    self.reads += 1
                    if status != 200:
                        self.failures.append((task_id, status))
        finally:
            connection.close()


def test_four_splits_while_the_worker_stores_and_the_api_reads(
    celery_worker: WorkerProcess, detector_version: ModelVersion
) -> None:
    user = UserFactory.create()
    _, key = api_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    # Rows already there, so that each split has a copy to make while the worker writes.
    # Finished tasks (the sweep leaves them alone) with rows already there, so that each
    # split has a copy to make while the worker writes.
    old = make_tasks(user, 300)
    Task.objects.filter(pk__in=[task.pk for task in old]).update(status=Task.Status.DONE)
    predictions_insert(
        rows=[row for task in old for row in rows_for(task.pk, detector_version, 20, 0.5)]
    )
    before = fingerprint()

    response = client.post("/api/v1/tasks/", {"image": _images(24, seed=5)}, format="multipart")
    assert response.status_code == 202
    task_ids = [task["id"] for task in response.json()["tasks"]]
    while not Task.objects.filter(pk__in=task_ids, status=Task.Status.DONE).exists():
        time.sleep(0.05)  # the worker is storing results
    reader = Reader(client, task_ids)
    reader.start()
    replayed = 0
    try:
        for remainder, destination in (
            (0, "shard_1"),
            (1, "shard_2"),
            (2, "shard_3"),
            (3, "leader"),
        ):
            # Reruns keep the worker replacing predictions through every split.
            for task_id in Task.objects.filter(
                pk__in=task_ids, status=Task.Status.DONE
            ).values_list("pk", flat=True):
                client.post(f"/api/v1/tasks/{task_id}/rerun/")
            reshard = reshard_run(
                plan=reshard_plan(kind="split", remainder=remainder, destination=destination),
                batch_size=20,
            )
            assert reshard.state == Reshard.State.VERIFIED
            replayed += reshard.tasks_replayed
        tasks = _wait_finished(task_ids)
    finally:
        reader.stop.set()
        reader.join(timeout=60)

    # The worker's writes met the copies: the change log carried them over.
    assert replayed > 0
    assert {(modulus, remainder) for modulus, remainder, _ in layout()} == {
        (8, remainder) for remainder in range(8)
    }
    assert reader.reads > 0
    assert not reader.failures, reader.failures
    assert [task.status for task in tasks] == [Task.Status.DONE] * len(tasks)
    for task in tasks:
        body = client.get(f"/api/v1/tasks/{task.pk}/").json()
        stored = list(
            Prediction.objects.filter(task_id=task.pk).values_list(
                "kind", "object_class_id", "scene_class_id", "score", "x1", "y1", "x2", "y2"
            )
        )
        assert len(stored) == len(set(stored)), f"task {task.pk} has duplicated predictions"
        assert len(stored) == len(body["objects"]) + len(body["scene"]["top"])
    after = fingerprint()
    assert {task: after[task] for task in before} == before
    assert_all_in_place()
