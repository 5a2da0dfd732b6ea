"""Pages: upload, gallery, task detail, dashboard, and the owner-checked files behind them.

Each view parses input, checks the owner (another user's task is a 404, exactly like a
missing one), calls one selector or service and renders.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from accounts.models import User
from ml_models.models import ModelVersion
from predictions import selectors
from predictions.filtersets import TaskFilterSet
from predictions.forms import BulkActionForm, UploadForm
from predictions.media import task_file_response
from predictions.models import Task
from predictions.services import task_delete, tasks_delete, tasks_rerun
from predictions.uploads import ACCEPTED_FORMATS, UploadedFile, tasks_submit
from sql_shards.errors import ShardUnavailableError

STATUS_POLL_MAX_IDS = 200


def _user(request: HttpRequest) -> User:
    # LoginRequiredMixin has already turned anonymous users away; this tells mypy so.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _task(request: HttpRequest, task_id: int) -> Task:
    try:
        return selectors.task_for_owner(owner=_user(request), task_id=task_id)
    except Task.DoesNotExist as error:
        raise Http404("No such image.") from error


class UploadView(LoginRequiredMixin, View):
    """Drag-and-drop upload with live progress; a plain form without JavaScript."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, UploadForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(request, form, status=400)
        images: list[UploadedFile] = []
        archives: list[UploadedFile] = []
        for upload in form.cleaned_data["images"]:
            item = UploadedFile(upload.name or "upload", upload.read())
            is_zip = (upload.name or "").lower().endswith(".zip")
            (archives if is_zip else images).append(item)
        result = tasks_submit(owner=_user(request), files=images, archives=archives)
        for error in result.errors:
            messages.error(request, f"{error.file_name}: {error.message}")
        if result.tasks:
            messages.success(request, f"Accepted {len(result.tasks)} image(s).")
            return redirect("predictions:gallery")
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: UploadForm, status: int = 200) -> HttpResponse:
        config = {
            "submitUrl": reverse("api:task-list"),
            "statusUrl": reverse("predictions:task_statuses"),
            "detailUrl": reverse("predictions:task_detail", args=[0]),
            "thumbnailUrl": reverse("predictions:task_thumbnail", args=[0]),
            "maxBytes": settings.UPLOAD_MAX_BYTES,
            "maxFilesPerRequest": 4,
            "extensions": sorted({*ACCEPTED_FORMATS.values(), "jpeg", "tiff", "zip"}),
        }
        return render(
            request,
            "predictions/upload.html",
            {"form": form, "upload_config": config},
            status=status,
        )


class TaskStatusesView(LoginRequiredMixin, View):
    """``GET ?ids=1,2,3``: the status of several of one's tasks in one request."""

    def get(self, request: HttpRequest) -> JsonResponse:
        raw = request.GET.get("ids", "")
        ids = [int(part) for part in raw.split(",") if part.strip().isdigit()]
        if not ids or len(ids) > STATUS_POLL_MAX_IDS:
            return JsonResponse(
                {
                    "error": {
                        "status": 400,
                        "code": "invalid_ids",
                        "message": f"Give 1 to {STATUS_POLL_MAX_IDS} task ids as ?ids=1,2,3.",
                        "details": None,
                    }
                },
                status=400,
            )
        return JsonResponse({"tasks": selectors.task_statuses(owner=_user(request), task_ids=ids)})


class GalleryView(LoginRequiredMixin, View):
    """Thumbnails with filters, newest or best first, keyset-paginated."""

    def get(self, request: HttpRequest) -> HttpResponse:
        owner = _user(request)
        filterset = TaskFilterSet(request.GET, queryset=selectors.tasks_for_owner(owner=owner))
        sort = request.GET.get("sort", "newest")
        if sort not in selectors.GALLERY_SORTS:
            sort = "newest"
        page = selectors.gallery_page(
            tasks=filterset.qs, sort=sort, cursor=request.GET.get("cursor") or None
        )
        object_styles, scene_styles = selectors.class_styles()
        position = selectors.gallery_position(tasks=filterset.qs, sort=sort, page=page)
        query = request.GET.copy()
        query.pop("cursor", None)
        filtered = any(
            request.GET.get(name) for name in TaskFilterSet.Meta.fields if name != "min_score"
        )
        return render(
            request,
            "predictions/gallery.html",
            {
                "page": page,
                "tasks": [_gallery_item(task, object_styles=object_styles) for task in page.tasks],
                "position": position,
                "filter_errors": _filter_messages(
                    request.GET,
                    errors=filterset.errors,
                    scenes=scene_styles.keys(),
                    objects=object_styles.keys(),
                ),
                "query": query.urlencode(),
                "current": request.GET,
                "sort": sort,
                "first_page": page.previous_cursor is None,
                "paged": bool(request.GET.get("cursor")),
                "filtered": filtered,
                "statuses": Task.Status.choices,
                "object_classes": object_styles.values(),
                "scene_classes": scene_styles.values(),
            },
        )


def _filter_messages(
    query: QueryDict, *, errors: dict[str, list[str]], scenes: Iterable[str], objects: Iterable[str]
) -> list[str]:
    """What is wrong with the gallery's filters, in the words of its form."""
    messages_: list[str] = []
    for name, label in (("created_after", "From"), ("created_before", "Before")):
        if name in errors:
            messages_.append(
                f"“{query.get(name)}” is not a date: pick one under “{label}” "
                "(a date such as 2026-12-31)."
            )
    for name, known, what in (("scene", scenes, "scene"), ("object", objects, "object class")):
        value = query.get(name)
        if value and value not in known:
            messages_.append(f"There is no {what} “{value}”: pick one from the list.")
    labels = {"status": "Status", "min_score": "Minimum scene score"}
    messages_ += [
        f"{labels.get(name, name)}: {' '.join(errors[name])}"
        for name in errors
        if name not in {"created_after", "created_before"}
    ]
    return messages_


def _gallery_item(task: Task, *, object_styles: dict[str, selectors.ClassStyle]) -> dict[str, Any]:
    counts = sorted((task.object_counts or {}).items(), key=lambda item: (-int(item[1]), item[0]))
    return {
        "task": task,
        "objects": [
            {"style": object_styles.get(name), "name": name, "count": int(count)}
            for name, count in counts
        ],
        "object_total": sum(int(count) for _, count in counts),
    }


class GalleryBulkView(LoginRequiredMixin, View):
    """Delete or rerun the selected images (only one's own: others are ignored)."""

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BulkActionForm(request.POST)
        back = request.POST.get("next") or reverse("predictions:gallery")
        if not back.startswith("/") or back.startswith("//"):
            back = reverse("predictions:gallery")
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, str(error))
            return redirect(back)
        owner, ids = _user(request), form.cleaned_data["tasks"]
        if form.cleaned_data["action"] == "delete":
            try:
                count = tasks_delete(owner=owner, task_ids=ids)
            except ShardUnavailableError as error:
                messages.error(request, f"Some images could not be deleted: {error}")
                return redirect(back)
            messages.success(request, f"Deleted {count} image(s).")
        else:
            rerun = tasks_rerun(owner=owner, task_ids=ids)
            messages.success(request, f"Queued {len(rerun)} image(s) to run again.")
        return redirect(back)


class TaskDetailView(LoginRequiredMixin, View):
    """The image with its boxes drawn over it, the scene chart and the predictions."""

    def get(self, request: HttpRequest, task_id: int) -> HttpResponse:
        task = _task(request, task_id)
        result: dict[str, Any] | None = None
        shard_error: str | None = None
        if task.status == Task.Status.DONE:
            try:
                result = selectors.task_result(task=task)
            except ShardUnavailableError as error:
                shard_error = str(error)
        object_styles, scene_styles = selectors.class_styles()
        return render(
            request,
            "predictions/task_detail.html",
            {
                "task": task,
                "result": result,
                "shard_error": shard_error,
                "objects": _with_geometry(
                    _styled(result["objects"] if result else [], object_styles),
                    width=task.width,
                    height=task.height,
                ),
                "scenes": _styled(result["scene"]["top"] if result else [], scene_styles),
                "object_classes": _classes_present(
                    result, object_styles, threshold=settings.OBJECT_PRESENT_THRESHOLD
                ),
                "label_size": max(9, round(max(task.width, task.height) / 48)),
                "default_threshold": settings.OBJECT_PRESENT_THRESHOLD,
                **_timings(task),
            },
        )


_FINISHED = (Task.Status.DONE, Task.Status.FAILED)


def _timings(task: Task) -> dict[str, Any]:
    """Seconds the current run waited and took, and when it finished: a rerun's own,
    never the earlier run's (whose start and end stay on the row until replaced)."""
    queued_at = task.rerun_at or task.created_at
    started = task.started_at if task.started_at and task.started_at >= queued_at else None
    finished = task.finished_at if started and task.status in _FINISHED else None
    return {
        "waited": (started - queued_at).total_seconds() if started else None,
        "duration": (finished - started).total_seconds() if started and finished else None,
        "finished_at": finished,
    }


def _styled(
    predictions: list[dict[str, Any]], styles: dict[str, selectors.ClassStyle]
) -> list[dict[str, Any]]:
    fallback = selectors.ClassStyle("unknown", "unknown", "#888888")
    return [
        {**prediction, "style": styles.get(prediction["label"], fallback), "index": index}
        for index, prediction in enumerate(predictions)
    ]


def _with_geometry(
    objects: list[dict[str, Any]], *, width: int, height: int
) -> list[dict[str, Any]]:
    """Where each box and its label go in the SVG overlay (image pixel units)."""
    size = max(9, round(max(width, height) / 48))
    for item in objects:
        x1, y1, x2, y2 = item["box"] or (0.0, 0.0, 0.0, 0.0)
        text = f"{item['style'].display_name} {item['score']:.2f}"
        label_width = round(len(text) * size * 0.62 + size * 0.6, 1)
        label_height = round(size * 1.35, 1)
        above = y1 >= label_height
        label_x = min(max(0.0, x1), max(0.0, width - label_width))
        label_y = y1 - label_height if above else y1
        item["geometry"] = {
            "x": round(x1, 1),
            "y": round(y1, 1),
            "w": round(max(1.0, x2 - x1), 1),
            "h": round(max(1.0, y2 - y1), 1),
            "label_x": round(label_x, 1),
            "label_y": round(label_y, 1),
            "label_w": label_width,
            "label_h": label_height,
            "text_x": round(label_x + size * 0.3, 1),
            "text_y": round(label_y + size * 1.05, 1),
            "text": text,
        }
    return objects


def _classes_present(
    result: dict[str, Any] | None, styles: dict[str, selectors.ClassStyle], *, threshold: float
) -> list[dict[str, Any]]:
    """Every class with a prediction, counting those at or above ``threshold`` (the
    boxes shown at first, and what the gallery counts); the page recounts live."""
    if not result:
        return []
    counts: dict[str, int] = {}
    for prediction in result["objects"]:
        above = prediction["score"] >= threshold
        counts[prediction["label"]] = counts.get(prediction["label"], 0) + int(above)
    fallback = selectors.ClassStyle("unknown", "unknown", "#888888")
    return [
        {"name": name, "count": count, "style": styles.get(name, fallback)}
        for name, count in sorted(counts.items())
    ]


class TaskImageView(LoginRequiredMixin, View):
    def get(self, request: HttpRequest, task_id: int) -> FileResponse:
        task = _task(request, task_id)
        return task_file_response(task.image, download_name=task.original_name)


class TaskThumbnailView(LoginRequiredMixin, View):
    def get(self, request: HttpRequest, task_id: int) -> FileResponse:
        return task_file_response(_task(request, task_id).thumbnail, download_name=None)


class TaskResultJsonView(LoginRequiredMixin, View):
    """The result in SPEC.md's format, as a download."""

    def get(self, request: HttpRequest, task_id: int) -> HttpResponse:
        task = _task(request, task_id)
        if task.status != Task.Status.DONE:
            raise Http404("This image has no result yet.")
        try:
            result = selectors.task_result(task=task)
        except ShardUnavailableError as error:
            return JsonResponse(
                {
                    "error": {
                        "status": 503,
                        "code": "shard_unavailable",
                        "message": str(error),
                        "details": {"shard": error.shard},
                    }
                },
                status=503,
            )
        stem = (task.original_name or f"task-{task.pk}").rsplit(".", 1)[0]
        response = JsonResponse(result, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="{stem}.json"'
        return response


class TaskRerunView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, task_id: int) -> HttpResponse:
        task = _task(request, task_id)
        tasks_rerun(owner=_user(request), task_ids=[task.pk])
        messages.success(request, "Queued to run again with the active models.")
        return redirect("predictions:task_detail", task_id=task.pk)


class TaskDeleteView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, task_id: int) -> HttpResponse:
        task = _task(request, task_id)
        name = task.original_name or f"Image {task.pk}"
        try:
            task_delete(task=task)
        except ShardUnavailableError as error:
            messages.error(request, f"{name} could not be deleted: {error}")
            return redirect("predictions:task_detail", task_id=task_id)
        messages.success(request, f"Deleted {name}.")
        return redirect("predictions:gallery")


class DashboardView(LoginRequiredMixin, View):
    """Counts as charts, queue depth, throughput and the active models' metrics."""

    def get(self, request: HttpRequest) -> HttpResponse:
        owner = _user(request)
        stats = selectors.task_stats(owner=owner)
        throughput = selectors.tasks_finished_per_minute(owner=owner)
        object_styles, scene_styles = selectors.class_styles()
        versions = [
            {
                "version": version,
                "metrics": selectors.model_version_headline_metrics(version=version),
                "plots": list(selectors.model_version_plots(version=version)),
            }
            for version in ModelVersion.objects.filter(is_active=True).order_by("kind")
        ]
        return render(
            request,
            "predictions/dashboard.html",
            {
                "stats": stats,
                "total": sum(stats["by_status"].values()),
                "by_status": _bars(
                    [
                        (label, stats["by_status"].get(value, 0))
                        for value, label in Task.Status.choices
                    ],
                    colours={
                        "Queued": "#8a94a6",
                        "Running": "#2457c5",
                        "Done": "#1f9d55",
                        "Failed": "#c0392b",
                    },
                ),
                "by_scene": _bars(
                    [
                        (str(scene_styles[name].display_name) if name in scene_styles else name, n)
                        for name, n in stats["by_scene"].items()
                    ],
                    colours={style.display_name: style.colour for style in scene_styles.values()},
                ),
                "by_object": _bars(
                    [
                        (object_styles[name].display_name if name in object_styles else name, n)
                        for name, n in stats["by_object"].items()
                    ],
                    colours={style.display_name: style.colour for style in object_styles.values()},
                ),
                "throughput": _throughput(throughput),
                "versions": versions,
            },
        )


def _bars(rows: list[tuple[str, int]], *, colours: dict[str, str]) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda row: -row[1]) if len(rows) > 4 else rows
    highest = max((count for _, count in rows), default=0) or 1
    return [
        {
            "label": label,
            "count": count,
            "percent": round(100 * count / highest, 1),
            "colour": colours.get(label, "#2457c5"),
        }
        for label, count in rows
    ]


def _throughput(per_minute: list[int]) -> dict[str, Any]:
    highest = max(per_minute, default=0)
    scale = highest or 1
    width = 4
    return {
        "total": sum(per_minute),
        "highest": highest,
        "last": per_minute[-1] if per_minute else 0,
        "width": width * len(per_minute),
        "bars": [
            {
                "x": index * width,
                "height": round(40 * count / scale, 1),
                "y": round(40 - 40 * count / scale, 1),
                "count": count,
                "minutes_ago": len(per_minute) - 1 - index,
            }
            for index, count in enumerate(per_minute)
        ],
    }


class ModelPlotView(LoginRequiredMixin, View):
    """An evaluation plot of a model version, for signed-in users only (not MEDIA)."""

    def get(self, request: HttpRequest, version_id: int, part: str) -> FileResponse:
        version = ModelVersion.objects.filter(pk=version_id).first()
        path = selectors.model_version_plot_file(version=version, part=part) if version else None
        if path is None:
            raise Http404("No such plot.")
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
