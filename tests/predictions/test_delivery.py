"""Nothing accepted is lost: Redis down at upload, lost workers, stale reruns."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu import Queue
from pytest_django.fixtures import SettingsWrapper

from accounts.models import User
from ml_models.models import ModelVersion
from predictions.delivery import (
    inference_messages_in_broker,
    lease_kept,
    tasks_claim,
    tasks_enqueue,
    tasks_sweep,
)
from predictions.models import Task
from predictions.selectors import queue_depth
from predictions.services import tasks_rerun
from predictions.uploads import UploadedFile, tasks_submit
from tests.conftest import RedisServer
from tests.factories import ModelVersionFactory, TaskFactory, UserFactory
from tests.images import png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue() -> None:
    from vision_site.celery import app

    app.control.purge()


def test_upload_with_redis_down_keeps_the_task_and_the_sweep_sends_it_later(
    redis_server: RedisServer,
) -> None:
    owner: User = UserFactory.create()
    redis_server.stop()
    try:
        result = tasks_submit(owner=owner, files=[UploadedFile("a.png", png_bytes())])
    finally:
        redis_server.start()

    assert result.enqueued is False
    task = Task.objects.get(pk=result.tasks[0].pk)
    assert task.status == Task.Status.QUEUED
    assert task.enqueued_at is None

    sweep = tasks_sweep()

    assert sweep.requeued == 1
    assert Task.objects.get(pk=task.pk).enqueued_at is not None
    assert queue_depth() == 1


def test_claim_takes_the_first_task_and_queued_others_oldest_first() -> None:
    tasks = [TaskFactory.create() for _ in range(4)]

    claim = tasks_claim(first_task_id=tasks[2].pk, limit=3)

    assert [task.pk for task in claim.tasks] == [tasks[2].pk, tasks[0].pk, tasks[1].pk]
    assert set(Task.objects.filter(status=Task.Status.RUNNING).values_list("pk", flat=True)) == {
        tasks[0].pk,
        tasks[1].pk,
        tasks[2].pk,
    }
    # A message whose task is held still claims what is queued, and then nothing.
    assert [t.pk for t in tasks_claim(first_task_id=tasks[2].pk, limit=3).tasks] == [tasks[3].pk]
    assert not tasks_claim(first_task_id=tasks[2].pk, limit=3).tasks


def test_one_message_per_batch_of_tasks(settings: SettingsWrapper) -> None:
    settings.INFERENCE_BATCH_SIZE = 8
    tasks = [TaskFactory.create() for _ in range(20)]

    assert tasks_enqueue(task_ids=[task.pk for task in tasks])

    assert queue_depth() == 3  # 8 + 8 + 4
    assert not Task.objects.filter(pk__in=[t.pk for t in tasks], enqueued_at=None).exists()
    # Each message's claim takes a whole batch: three claims drain all twenty tasks.
    claims = [tasks_claim(first_task_id=tasks[i].pk, limit=8) for i in (0, 8, 16)]
    assert [len(claim.tasks) for claim in claims] == [8, 8, 4]
    assert not Task.objects.filter(status=Task.Status.QUEUED).exists()


def test_sweep_takes_back_tasks_whose_worker_lease_ran_out(settings: SettingsWrapper) -> None:
    settings.TASK_MAX_ATTEMPTS = 3
    lost = TaskFactory.create(
        status=Task.Status.RUNNING,
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    hopeless = TaskFactory.create(
        status=Task.Status.RUNNING,
        attempts=3,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    alive = TaskFactory.create(
        status=Task.Status.RUNNING,
        attempts=1,
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )

    result = tasks_sweep()

    assert (result.reclaimed, result.given_up) == (1, 1)
    assert Task.objects.get(pk=lost.pk).status == Task.Status.QUEUED
    assert Task.objects.get(pk=hopeless.pk).status == Task.Status.FAILED
    assert "Gave up after 3 attempts" in Task.objects.get(pk=hopeless.pk).error
    assert Task.objects.get(pk=alive.pk).status == Task.Status.RUNNING


def test_rerun_of_stale_tasks_touches_only_those() -> None:
    owner: User = UserFactory.create()
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    old_detector = ModelVersionFactory.create(kind="detector")
    detector = ModelVersionFactory.create(kind="detector", is_active=True)
    scene = ModelVersionFactory.create(kind="scene", is_active=True)
    current = TaskFactory.create(
        owner=owner, status=Task.Status.DONE, detector_version=detector, scene_version=scene
    )
    stale = TaskFactory.create(
        owner=owner, status=Task.Status.DONE, detector_version=old_detector, scene_version=scene
    )
    missing = TaskFactory.create(owner=owner, status=Task.Status.FAILED)
    someone_elses = TaskFactory.create(status=Task.Status.DONE, detector_version=old_detector)
    assert isinstance(current.detector_version, ModelVersion)

    rerun = tasks_rerun(owner=owner, stale=True)

    assert sorted(rerun) == sorted([stale.pk, missing.pk])
    assert Task.objects.get(pk=current.pk).status == Task.Status.DONE
    assert Task.objects.get(pk=someone_elses.pk).status == Task.Status.DONE
    assert Task.objects.get(pk=stale.pk).status == Task.Status.QUEUED
    assert queue_depth() == 1  # one message for the batch of two


def test_claim_waits_for_a_briefly_locked_task_instead_of_skipping_it() -> None:
    task = TaskFactory.create()
    locked = threading.Event()

    def hold_lock() -> None:
        # Like the web process stamping enqueued_at just after publishing the message.
        with transaction.atomic():
            Task.objects.select_for_update().get(pk=task.pk)
            locked.set()
            time.sleep(0.5)
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(timeout=10)

    claim = tasks_claim(first_task_id=task.pk, limit=1)
    holder.join()

    assert [claimed.pk for claimed in claim.tasks] == [task.pk]


def _sent_seconds_ago(task: Task, seconds: float) -> None:
    Task.objects.filter(pk=task.pk).update(enqueued_at=timezone.now() - timedelta(seconds=seconds))


def test_sweep_sends_again_at_once_what_redis_lost(settings: SettingsWrapper) -> None:
    from vision_site.celery import app

    settings.TASK_REQUEUE_AFTER_SECONDS = 300
    task = TaskFactory.create(status=Task.Status.QUEUED)
    assert tasks_enqueue(task_ids=[task.pk])
    _sent_seconds_ago(task, 3)

    still_there = tasks_sweep()
    app.control.purge()  # Redis restarted without saving: the message is gone
    lost = tasks_sweep()

    assert still_there.requeued == 0
    assert lost.requeued == 1
    assert queue_depth() == 1


def test_sweep_never_sends_again_a_task_whose_message_a_worker_holds(
    settings: SettingsWrapper,
) -> None:
    from vision_site.celery import app

    settings.TASK_REQUEUE_AFTER_SECONDS = 300
    task = TaskFactory.create(status=Task.Status.QUEUED)
    assert tasks_enqueue(task_ids=[task.pk])
    _sent_seconds_ago(task, 3)
    with app.connection_for_read() as broker:
        consumer = broker.SimpleQueue(  # type: ignore[attr-defined]  # kombu is untyped here
            Queue(settings.CELERY_INFERENCE_QUEUE), no_ack=False
        )
        message = consumer.get(timeout=5)  # delivered, not acknowledged (acks_late)
        try:
            held = inference_messages_in_broker()
            result = tasks_sweep()
        finally:
            message.ack()
            consumer.close()

    assert held == 1
    assert result.requeued == 0
    assert queue_depth() == 0


def test_sweep_leaves_a_just_sent_task_whose_message_was_taken(settings: SettingsWrapper) -> None:
    # Sent after Redis was asked (or within the clocks' margin): its worker may be
    # claiming it right now, and a second message would be a duplicate.
    settings.TASK_REQUEUE_AFTER_SECONDS = 300
    task = TaskFactory.create(status=Task.Status.QUEUED)
    Task.objects.filter(pk=task.pk).update(enqueued_at=timezone.now())

    assert tasks_sweep().requeued == 0


def test_a_working_worker_renews_its_lease_and_a_dead_one_does_not(
    settings: SettingsWrapper,
) -> None:
    settings.TASK_LEASE_SECONDS = 3  # renewed every second
    task = TaskFactory.create(status=Task.Status.QUEUED)
    claim = tasks_claim(first_task_id=task.pk, limit=1)
    claimed_lease = Task.objects.get(pk=task.pk).lease_expires_at
    assert claimed_lease is not None

    with lease_kept(claim):
        time.sleep(4.5)  # longer than the lease itself
        assert tasks_sweep().reclaimed == 0
    renewed = Task.objects.get(pk=task.pk)
    time.sleep(3.5)  # the worker is gone: nothing renews the lease any more
    result = tasks_sweep()

    assert renewed.status == Task.Status.RUNNING
    assert renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > claimed_lease + timedelta(seconds=2)
    assert result.reclaimed == 1
    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED


def test_a_batch_past_the_time_limit_stops_renewing_its_lease(settings: SettingsWrapper) -> None:
    settings.TASK_LEASE_SECONDS = 3  # renewed every second...
    settings.CELERY_TASK_TIME_LIMIT = 2  # ...until two seconds have passed
    task = TaskFactory.create(status=Task.Status.QUEUED)
    claim = tasks_claim(first_task_id=task.pk, limit=1)

    with lease_kept(claim):
        time.sleep(5)  # hung: the last renewal (at one second) ran out at four
        result = tasks_sweep()

    assert result.reclaimed == 1
    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED
