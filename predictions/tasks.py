"""Celery tasks of the pipeline: they take ids, call a service and own retry policy."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task as CeleryTask
from celery.signals import worker_init, worker_ready
from django.db import InterfaceError, OperationalError

from predictions.delivery import ANALYZE_TASK
from vision_site.celery import app

logger = logging.getLogger(__name__)

# Transient failures: the leader database restarting, a connection dropped.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@app.task(
    bind=True,
    name=ANALYZE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=8,
    # The Task row holds the outcome; no result backend round trip is needed (and
    # publishing must not wait on the backend when Redis is down).
    ignore_result=True,
)
def analyze_task(self: CeleryTask[Any, Any], task_id: int) -> dict[str, int]:
    """Analyse ``task_id`` and whatever else is queued, as one batch.

    The message only names a task; the worker claims it in the database, so a
    duplicate or late message for a task already done is a cheap no-op.
    """
    from predictions.pipeline import batch_process

    try:
        outcome = batch_process(first_task_id=task_id)
    except TRANSIENT_ERRORS as error:
        countdown = min(300, 2 ** (self.request.retries + 1))
        logger.warning(
            "Task %s: transient database error, retry in %ss: %s", task_id, countdown, error
        )
        raise self.retry(exc=error, countdown=countdown) from error
    return {"done": outcome.done, "failed": outcome.failed, "waiting": outcome.waiting}


@app.task(name="predictions.tasks.sweep_tasks", ignore_result=True)
def sweep_tasks() -> dict[str, int]:
    """Re-send every task the broker or a worker lost (runs periodically and at start-up)."""
    from predictions.delivery import tasks_sweep

    result = tasks_sweep()
    return {"requeued": result.requeued, "reclaimed": result.reclaimed, "given_up": result.given_up}


@worker_ready.connect
def _sweep_on_worker_start(**_: Any) -> None:
    # A worker that starts after a crash recovers its predecessor's tasks at once.
    sweep_tasks.apply_async(queue="default")


@worker_init.connect
def _share_cores_among_processes(sender: Any = None, **_: Any) -> None:
    # Before the pool forks (or starts its threads): each of the worker's processes then
    # runs torch on its share of the cores (ml_models/inference/host.py), whatever
    # --concurrency the worker was started with. Only prefork and thread pools compute
    # side by side; solo, gevent and eventlet pools run one task at a time on one thread.
    from ml_models.inference.host import record_worker_processes

    pool = str(getattr(sender, "pool_cls", ""))
    side_by_side = any(name in pool for name in ("prefork", "processes", "thread"))
    processes = int(getattr(sender, "concurrency", 1) or 1) if side_by_side else 1
    record_worker_processes(processes)
    logger.info("Inference: %d worker process(es) share this host's cores", processes)
