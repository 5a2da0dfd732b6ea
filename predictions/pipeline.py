"""The worker's job: run both active models on a claimed batch and store the results.

Called from ``predictions.tasks.analyze_task`` in the worker process; imports the
torch-heavy inference code lazily. One batch = the tasks one claim holds: their
images are decoded in a background thread while the models work on the previous
chunk, and all their predictions are written with one multi-row insert (one round
trip per shard). If a shard is down, only the tasks stored on it wait.

Why not celery-batches: it gathers batches from messages buffered inside the worker,
which needs a prefetch far above the batch size (we run prefetch 1 with late acks),
and a buffer that dies with a killed worker. Claiming queued tasks from the database
batches just as well, keeps the Task row the single truth, and lets a lease decide
when a dead worker's tasks are taken back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml_models.inference.upright import DecodedImage
from ml_models.models import ModelVersion, ObjectClass, SceneClass
from predictions.analysis import ImageAnalysis, ImageAnalyzer, analyzer_for
from predictions.delivery import Claim, lease_kept, tasks_claim, tasks_enqueue, tasks_release
from predictions.models import Prediction, Task
from predictions.services import PredictionRow, predictions_replace
from sql_shards.errors import ShardUnavailableError
from sql_shards.selectors import shards_for_tasks

logger = logging.getLogger(__name__)

SCENE_TOP_K = 5


class NoActiveModelError(RuntimeError):
    """The worker cannot run: a model kind has no active version."""


@dataclass(frozen=True)
class BatchOutcome:
    done: int
    failed: int
    waiting: int


def _open_image(task: Task, fit: int) -> DecodedImage:
    from ml_models.inference.preprocess import decode_image

    with task.image.open("rb") as handle:
        return decode_image(handle.read(), fit=fit)


def _decoded(
    tasks: Sequence[Task], chunk: int, fit: int, threads: int = 1
) -> Iterator[list[tuple[Task, DecodedImage | str]]]:
    """Chunks of (task, image or error text), decoding the next chunk in the background
    on ``threads`` threads (a large JPEG straight down to the models' input side ``fit``)."""
    from ml_models.inference.prefetch import mapped, prefetched

    def decode_one(task: Task) -> tuple[Task, DecodedImage | str]:
        try:
            return task, _open_image(task, fit)
        except (OSError, ValueError) as error:
            return task, f"The image could not be read: {error}"

    def decode(part: Sequence[Task]) -> list[tuple[Task, DecodedImage | str]]:
        return mapped(decode_one, part, threads)

    parts = [tasks[start : start + chunk] for start in range(0, len(tasks), chunk)]
    yield from prefetched(parts, decode)


def _active_versions() -> tuple[ModelVersion, ModelVersion]:
    versions = {version.kind: version for version in ModelVersion.objects.filter(is_active=True)}
    missing = [kind for kind in ModelVersion.Kind.values if kind not in versions]
    if missing:
        raise NoActiveModelError(f"No active model version for: {', '.join(missing)}.")
    return versions[ModelVersion.Kind.DETECTOR], versions[ModelVersion.Kind.SCENE]


@dataclass
class _TaskResult:
    task: Task
    analysis: ImageAnalysis | None
    error: str = ""


def batch_process(*, first_task_id: int) -> BatchOutcome:
    """Claim a batch starting with ``first_task_id``, analyse it and store the results."""
    claim = tasks_claim(
        first_task_id=first_task_id,
        limit=settings.INFERENCE_BATCH_SIZE,
        wait_ms=settings.INFERENCE_BATCH_WAIT_MS,
    )
    if not claim.tasks:
        return BatchOutcome(0, 0, 0)
    with lease_kept(claim):
        try:
            detector_version, scene_version = _active_versions()
            analyzer = analyzer_for(detector=detector_version, scene=scene_version)
            results = _analyse(claim.tasks, analyzer)
        except Exception as error:
            # Nothing was stored: give the batch back so another attempt can run it.
            tasks_release(
                task_ids=[t.pk for t in claim.tasks], token=claim.token, reason=str(error)
            )
            raise
        return _store(claim, results, detector_version, scene_version)


def _analyse(tasks: Sequence[Task], analyzer: ImageAnalyzer) -> list[_TaskResult]:
    results: list[_TaskResult] = []
    parts = _decoded(tasks, analyzer.batch_size, analyzer.input_size, analyzer.decode_threads)
    for part in parts:
        readable = [(task, image) for task, image in part if not isinstance(image, str)]
        results += [
            _TaskResult(task, None, image) for task, image in part if isinstance(image, str)
        ]
        if readable:
            analyses = analyzer.analyze([image for _, image in readable])
            results += [
                _TaskResult(task, analysis)
                for (task, _), analysis in zip(readable, analyses, strict=True)
            ]
    return results


def _rows_for(
    result: _TaskResult,
    detector_version: ModelVersion,
    scene_version: ModelVersion,
    object_ids: dict[str, int],
    scene_ids: dict[str, int],
) -> list[PredictionRow]:
    if result.analysis is None:
        return []
    task_id = result.task.pk
    rows = [
        PredictionRow(
            task_id=task_id,
            kind=Prediction.Kind.SCENE,
            score=score,
            model_version_id=scene_version.pk,
            scene_class_id=scene_ids[label],
        )
        for label, score in result.analysis.scene_top[:SCENE_TOP_K]
        if label in scene_ids
    ]
    rows += [
        PredictionRow(
            task_id=task_id,
            kind=Prediction.Kind.OBJECT,
            score=detection.score,
            model_version_id=detector_version.pk,
            object_class_id=object_ids[detection.label],
            box=detection.box,
        )
        for detection in result.analysis.objects
        if detection.label in object_ids
    ]
    return rows


def _summarise(task: Task, analysis: ImageAnalysis, scene_ids: dict[str, int]) -> None:
    label, score = analysis.scene_top[0] if analysis.scene_top else (None, None)
    task.scene_class_id = scene_ids.get(label) if label else None
    task.scene_score = score
    counts: dict[str, int] = {}
    for detection in analysis.objects:
        if detection.score >= analysis.report_threshold:
            counts[detection.label] = counts.get(detection.label, 0) + 1
    task.object_counts = counts


def _store(
    claim: Claim,
    results: list[_TaskResult],
    detector_version: ModelVersion,
    scene_version: ModelVersion,
) -> BatchOutcome:
    object_ids = dict(ObjectClass.objects.values_list("name", "pk"))
    scene_ids = dict(SceneClass.objects.values_list("name", "pk"))
    pending = list(results)
    waiting = 0
    # Try the whole batch in one write; if a shard is down, set its tasks aside and
    # write the others, so that a down shard delays only the tasks stored on it.
    while pending:
        try:
            _commit(claim.token, pending, detector_version, scene_version, object_ids, scene_ids)
            break
        except ShardUnavailableError as error:
            on_shard = _tasks_on_shard(pending, error.shard)
            if not on_shard:
                raise
            released = tasks_release(
                task_ids=[result.task.pk for result in on_shard],
                token=claim.token,
                reason=f"Waiting for {error.shard}, which is unavailable; will retry.",
            )
            waiting += len(released)
            tasks_enqueue(task_ids=released, countdown=_retry_delay(on_shard))
            pending = [result for result in pending if result not in on_shard]
    failed = sum(1 for result in pending if result.analysis is None)
    return BatchOutcome(done=len(pending) - failed, failed=failed, waiting=waiting)


def _retry_delay(results: list[_TaskResult]) -> float:
    attempts = max(result.task.attempts for result in results)
    return float(min(300, 2 ** min(attempts, 8)))


def _tasks_on_shard(results: list[_TaskResult], shard: str) -> list[_TaskResult]:
    shards = shards_for_tasks(task_ids=[result.task.pk for result in results])
    return [result for result in results if shards[result.task.pk] == shard]


def _commit(
    token: uuid.UUID,
    results: list[_TaskResult],
    detector_version: ModelVersion,
    scene_version: ModelVersion,
    object_ids: dict[str, int],
    scene_ids: dict[str, int],
) -> None:
    """Write predictions and final statuses of the tasks this claim still holds."""
    now = timezone.now()
    with transaction.atomic():
        held = set(
            Task.objects.select_for_update()
            .filter(
                pk__in=[result.task.pk for result in results],
                claim_token=token,
                status=Task.Status.RUNNING,
            )
            .values_list("pk", flat=True)
        )
        mine = [result for result in results if result.task.pk in held]
        if len(mine) < len(results):
            logger.warning(
                "%d task(s) were taken back from this worker; their results are dropped.",
                len(results) - len(mine),
            )
        rows: list[PredictionRow] = []
        for result in mine:
            task = result.task
            task.finished_at = now
            task.claim_token = None
            task.lease_expires_at = None
            if result.analysis is None:
                task.status = Task.Status.FAILED
                task.error = result.error
                continue
            rows += _rows_for(result, detector_version, scene_version, object_ids, scene_ids)
            _summarise(task, result.analysis, scene_ids)
            task.status = Task.Status.DONE
            task.error = ""
            task.detector_version = detector_version
            task.scene_version = scene_version
        predictions_replace(task_ids=[result.task.pk for result in mine], rows=rows)
        Task.objects.bulk_update(
            [result.task for result in mine],
            [
                "status",
                "error",
                "finished_at",
                "claim_token",
                "lease_expires_at",
                "detector_version",
                "scene_version",
                "scene_class",
                "scene_score",
                "object_counts",
            ],
        )
