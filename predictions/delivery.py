"""Getting jobs to workers and back: enqueue, claim, release and the recovery sweep.

The ``Task`` row is the truth; the broker only delivers ids. A worker *claims* tasks
in the database (status ``running``, a claim token and a lease) before it runs them,
and its results count only while its claim holds. Whatever the broker or a worker
loses — a message never sent because Redis was down, a worker killed mid-batch — the
sweep finds in the database and sends again.

The sweep runs every few seconds and also asks Redis what it still holds: queued tasks
whose messages are gone (Redis restarted without saving) are sent again at once rather
than after ``TASK_REQUEUE_AFTER_SECONDS``, but only when the inference queue holds no
message at all, waiting or delivered — one still there will claim them, and a second
message is never sent for it. A worker renews its lease (``lease_kept``) while it works,
so the lease can be short and a dead worker's tasks come back within seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from predictions.models import Task
from vision_site.celery import app

logger = logging.getLogger(__name__)

ANALYZE_TASK = "predictions.tasks.analyze_task"
# Publishing must fail fast when Redis is down: the caller keeps the task queued.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
BROKER_CLOCK_MARGIN_SECONDS = 1.0


def tasks_enqueue(*, task_ids: Sequence[int], countdown: float | None = None) -> bool:
    """Send one message per ``INFERENCE_BATCH_SIZE`` tasks to the inference queue, each
    naming the first task of its chunk, and stamp ``enqueued_at`` on every task sent.

    The worker that takes a message claims the named task plus other queued tasks up to
    the batch size (``tasks_claim``), so one message serves a whole batch: with one
    message per task, a worker spent a third of its time receiving messages whose tasks
    an earlier batch had already done (measured with py-spy in ``bench/pipeline.py``).
    Returns False (and logs) if the broker cannot be reached; the tasks stay queued
    and the sweep sends them later.
    """
    sent: list[int] = []
    chunk = max(1, settings.INFERENCE_BATCH_SIZE)
    try:
        for start in range(0, len(task_ids), chunk):
            part = list(task_ids[start : start + chunk])
            # By name: the task module imports the pipeline, which imports this one.
            app.send_task(
                ANALYZE_TASK,
                args=(part[0],),
                countdown=countdown,
                retry_policy=PUBLISH_RETRY_POLICY,
                ignore_result=True,
            )
            sent += part
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Any broker failure (connection refused, timeout, auth) leaves the tasks queued.
        logger.warning(
            "Broker unreachable, %d task(s) stay queued for the sweep: %s",
            len(task_ids) - len(sent),
            error,
        )
        return False
    finally:
        if sent:
            Task.objects.filter(pk__in=sent).update(enqueued_at=timezone.now())
    return True


def _claimable(now: datetime) -> Q:
    return Q(status=Task.Status.QUEUED) | Q(status=Task.Status.RUNNING, lease_expires_at__lt=now)


@dataclass(frozen=True)
class Claim:
    """The tasks one worker holds, and the token that proves it."""

    token: uuid.UUID
    tasks: list[Task]


def tasks_claim(*, first_task_id: int, limit: int, wait_ms: int = 0) -> Claim:
    """Claim ``first_task_id`` (if nobody holds it) plus other queued tasks, oldest
    first, up to ``limit``, so the models see batches rather than single images.

    A task already done, failed or held under a live lease is not claimed, but the
    message still claims whatever else is queued: every message is worth a batch, and
    tasks sent without a message of their own (``tasks_enqueue`` sends one per chunk)
    are never left waiting for one. ``wait_ms`` gives tasks enqueued a moment later the
    chance to join the batch.
    """
    token = uuid.uuid4()
    claimed: list[Task] = []
    with transaction.atomic():
        now = timezone.now()
        # Wait for the named task's row lock instead of skipping it: the web process
        # may still be stamping ``enqueued_at`` on it when this message arrives, and a
        # skipped row would sit queued until the sweep. Only this first lookup waits,
        # before the claim holds any other lock, so claims cannot deadlock.
        claimed += Task.objects.select_for_update().filter(_claimable(now), pk=first_task_id)
        claimed += _claim_more(exclude={first_task_id}, limit=limit - len(claimed))
        if not claimed:
            return Claim(token, [])
        _mark_running(claimed, token=token, now=now)
    if len(claimed) < limit and wait_ms > 0:
        time.sleep(wait_ms / 1000)
        with transaction.atomic():
            now = timezone.now()
            more = _claim_more(exclude={task.pk for task in claimed}, limit=limit - len(claimed))
            _mark_running(more, token=token, now=now)
        claimed += more
    return Claim(token, claimed)


def _claim_more(*, exclude: set[int], limit: int) -> list[Task]:
    if limit <= 0:
        return []
    return list(
        Task.objects.select_for_update(skip_locked=True)
        .filter(status=Task.Status.QUEUED)
        .exclude(pk__in=exclude)
        .order_by("created_at", "id")[:limit]
    )


def _mark_running(tasks: list[Task], *, token: uuid.UUID, now: datetime) -> None:
    lease = now + timedelta(seconds=settings.TASK_LEASE_SECONDS)
    for task in tasks:
        task.status = Task.Status.RUNNING
        task.claim_token = token
        task.lease_expires_at = lease
        task.started_at = now
        task.finished_at = None
        task.attempts += 1
    # ``error`` is kept: "waiting for shard_2" stays visible while the task retries.
    Task.objects.bulk_update(
        tasks,
        ["status", "claim_token", "lease_expires_at", "started_at", "finished_at", "attempts"],
    )


@contextmanager
def lease_kept(claim: Claim) -> Iterator[None]:
    """Renew ``claim``'s lease every third of ``TASK_LEASE_SECONDS`` while the body runs.

    The renewals are the worker's heartbeat: they stop when its process dies, and the
    sweep takes its tasks back once the lease runs out, whatever a batch would have taken.
    They also stop after ``CELERY_TASK_TIME_LIMIT``, so that a batch hung where the
    time limit cannot kill it (the solo pool) still loses its tasks.
    """
    stopped = threading.Event()
    interval = max(0.5, settings.TASK_LEASE_SECONDS / 3)
    give_up_at = time.monotonic() + settings.CELERY_TASK_TIME_LIMIT

    def renew() -> None:
        try:
            while not stopped.wait(interval) and time.monotonic() < give_up_at:
                Task.objects.filter(claim_token=claim.token, status=Task.Status.RUNNING).update(
                    lease_expires_at=timezone.now() + timedelta(seconds=settings.TASK_LEASE_SECONDS)
                )
        except Exception as error:  # pylint: disable=broad-exception-caught
            # The batch goes on; without renewals the sweep may take it back, and its
            # results are then dropped (the claim no longer holds), never stored twice.
            logger.warning("Lease renewal stopped: %s", error)
        finally:
            connection.close()  # this thread's own connection

    heartbeat = threading.Thread(target=renew, name="lease-heartbeat", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        stopped.set()
        heartbeat.join()


def tasks_release(*, task_ids: Sequence[int], token: uuid.UUID, reason: str) -> list[int]:
    """Give claimed tasks back to the queue (e.g. their shard is down); returns their ids."""
    with transaction.atomic():
        released = list(
            Task.objects.select_for_update()
            .filter(pk__in=task_ids, claim_token=token, status=Task.Status.RUNNING)
            .values_list("pk", flat=True)
        )
        Task.objects.filter(pk__in=released).update(
            status=Task.Status.QUEUED,
            claim_token=None,
            lease_expires_at=None,
            enqueued_at=None,
            error=reason,
        )
    return released


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    reclaimed: int
    given_up: int
    enqueued: bool


def inference_messages_in_broker() -> int | None:
    """Messages for the inference queue that Redis holds, waiting or delivered to a
    worker and not yet acknowledged (tasks run with ``acks_late``, and a message held
    for a countdown is delivered too); None if Redis cannot be asked."""
    queue = settings.CELERY_INFERENCE_QUEUE
    try:
        with app.connection_for_read() as broker:
            channel: Any = broker.default_channel  # type: ignore[attr-defined]
            waiting = sum(
                int(channel.client.llen(channel._q_for_pri(queue, priority)))  # pylint: disable=protected-access
                for priority in channel.priority_steps
            )
            # Values are [message, exchange, routing key]; the queue's key is its name.
            delivered = sum(
                1
                for raw in channel.client.hvals(channel.unacked_key)
                if json.loads(raw)[2] == queue
            )
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Whatever the client raises, the sweep falls back on the requeue age.
        logger.warning("Broker queue unavailable to the sweep: %s", error)
        return None
    return waiting + delivered


def tasks_sweep() -> SweepResult:
    """Recover every task that the broker or a worker lost.

    - queued tasks never sent (Redis was down) or sent long ago and not yet taken;
    - queued tasks sent before Redis was asked, when it holds no inference message at
      all (it lost them): no worker would otherwise ever claim them;
    - running tasks whose worker's lease ran out (the worker died, so its heartbeat
      stopped, or its batch outlived the task time limit).
    A task that has already used all its attempts is marked failed instead.
    """
    now = timezone.now()
    with transaction.atomic():
        expired = Task.objects.filter(status=Task.Status.RUNNING, lease_expires_at__lt=now)
        given_up = expired.filter(attempts__gte=settings.TASK_MAX_ATTEMPTS).update(
            status=Task.Status.FAILED,
            finished_at=now,
            claim_token=None,
            lease_expires_at=None,
            error=(
                f"Gave up after {settings.TASK_MAX_ATTEMPTS} attempts: the worker stopped "
                "while analysing this image each time."
            ),
        )
        reclaimed = expired.update(
            status=Task.Status.QUEUED, claim_token=None, lease_expires_at=None, enqueued_at=None
        )
    stale_before = now - timedelta(seconds=settings.TASK_REQUEUE_AFTER_SECONDS)
    lost = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale_before)
    asked_at = timezone.now()
    if inference_messages_in_broker() == 0:
        # ``enqueued_at`` is stamped after the message is published: a task stamped
        # before Redis was asked had its message there by then, and none is left. The
        # margin covers clocks of web and worker hosts that differ slightly.
        lost |= Q(enqueued_at__lt=asked_at - timedelta(seconds=BROKER_CLOCK_MARGIN_SECONDS))
    to_send = list(
        Task.objects.filter(status=Task.Status.QUEUED)
        .filter(lost)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )
    enqueued = tasks_enqueue(task_ids=to_send) if to_send else True
    if to_send or reclaimed or given_up:
        logger.info(
            "Sweep: %d sent again, %d taken back from lost workers, %d given up",
            len(to_send),
            reclaimed,
            given_up,
        )
    return SweepResult(
        requeued=len(to_send), reclaimed=reclaimed, given_up=given_up, enqueued=enqueued
    )
