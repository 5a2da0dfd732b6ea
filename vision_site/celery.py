"""The Celery app: Redis broker and result backend, JSON only, one queue for inference.

Heavy inference tasks are acknowledged late (after they finish) and a worker takes one
message at a time, so a crashed worker's task goes back to the queue instead of being
lost. The Task row in the database stays the truth about each job.
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vision_site.settings")

app = Celery("vision_site")
app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    result_backend=settings.CELERY_RESULT_BACKEND,
    task_always_eager=settings.CELERY_TASK_ALWAYS_EAGER,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=24 * 3600,
    task_default_queue="default",
    task_routes={
        "predictions.tasks.analyze_task": {"queue": settings.CELERY_INFERENCE_QUEUE},
    },
    beat_schedule={
        "sweep-lost-tasks": {
            "task": "predictions.tasks.sweep_tasks",
            "schedule": settings.TASK_SWEEP_INTERVAL_SECONDS,
        },
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=settings.CELERY_TASK_TIME_LIMIT,
    task_soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    broker_transport_options={
        "visibility_timeout": 2 * settings.CELERY_TASK_TIME_LIMIT,
        "socket_connect_timeout": settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    },
    result_backend_transport_options={"retry_policy": {"max_retries": 2}},
    worker_hijack_root_logger=False,
    timezone=settings.TIME_ZONE,
)
app.conf.include = ["vision_site.tasks"]
app.autodiscover_tasks()
