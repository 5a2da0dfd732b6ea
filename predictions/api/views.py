from __future__ import annotations

import time
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.models import User
from predictions.api.serializers import (
    SubmissionRejectedSerializer,
    SubmissionResponseSerializer,
    TaskRerunSerializer,
    TaskSerializer,
    TaskSubmitSerializer,
)
from predictions.filtersets import TaskFilterSet
from predictions.media import task_file_response
from predictions.models import Task
from predictions.selectors import task_result, task_stats, tasks_for_owner
from predictions.services import task_delete, tasks_rerun
from predictions.uploads import UploadedFile, tasks_submit
from vision_site.exceptions import api_error_body
from vision_site.pagination import CheckedCursorPagination

WAIT_POLL_SECONDS = 0.1


class NewestFirstPagination(CheckedCursorPagination):
    """Keyset pagination: stays fast however many tasks there are."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _owner(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):  # IsAuthenticated runs first; this narrows the type
        raise NotAuthenticated()
    return user


def _with_result(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    if task.status == Task.Status.DONE:
        data.update(task_result(task=task))
    return data


class TaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Task],
):
    """Submit images, follow their tasks and read the results."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilterSet
    # These read or delete predictions on the task's shard: one that is down answers 503.
    shard_backed_actions = frozenset({"create", "retrieve", "destroy"})
    pagination_class = NewestFirstPagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Task.objects.none()
        # Every lookup is limited to the caller's own tasks: others' are a 404.
        return tasks_for_owner(owner=_owner(self.request))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        return Response(_with_result(task, self.get_serializer(task).data))

    def perform_destroy(self, instance: Task) -> None:
        task_delete(task=instance)

    @extend_schema(
        request={"multipart/form-data": TaskSubmitSerializer},
        responses={
            202: SubmissionResponseSerializer,
            400: OpenApiResponse(SubmissionRejectedSerializer, description="No usable file."),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = TaskSubmitSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = tasks_submit(
            owner=_owner(request),
            files=[
                UploadedFile(upload.name or "upload", upload.read())
                for upload in form.validated_data["image"]
            ],
            archives=[
                UploadedFile(upload.name or "archive.zip", upload.read())
                for upload in form.validated_data["archive"]
            ],
        )
        errors = [{"file": error.file_name, "error": error.message} for error in result.errors]
        if not result.tasks:
            return Response(
                {
                    **api_error_body(
                        status_code=status.HTTP_400_BAD_REQUEST,
                        code="no_valid_image",
                        message="No file could be accepted: "
                        + "; ".join(f"{e['file']}: {e['error']}" for e in errors),
                    ),
                    "tasks": [],
                    "errors": errors,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        tasks = self._wait(result.tasks, form.validated_data["wait"])
        if not result.enqueued:
            message = (
                "Accepted, but the queue is unreachable right now: the tasks are stored and "
                "will run automatically when it is back."
            )
        else:
            message = f"Accepted {len(tasks)} image(s)."
        return Response(
            {
                "tasks": [self._summary(task) for task in tasks],
                "errors": errors,
                "message": message,
            },
            status=status.HTTP_202_ACCEPTED,
        )

    def _wait(self, tasks: list[Task], seconds: float) -> list[Task]:
        ids = [task.pk for task in tasks]
        deadline = time.monotonic() + seconds
        while seconds > 0:
            finished = Task.objects.filter(
                pk__in=ids, status__in=[Task.Status.DONE, Task.Status.FAILED]
            )
            if finished.count() == len(ids) or time.monotonic() >= deadline:
                break
            time.sleep(WAIT_POLL_SECONDS)
        by_id = {task.pk: task for task in self.get_queryset().filter(pk__in=ids)}
        return [by_id[task_id] for task_id in ids]

    def _summary(self, task: Task) -> dict[str, Any]:
        # not the whole TaskSerializer: building its fields cost 1.5 ms per uploaded image
        url = reverse("api:task-detail", kwargs={"pk": task.pk}, request=self.request)
        summary = {"id": task.pk, "status": task.status, "url": url, "error": task.error}
        return _with_result(task, summary)

    @extend_schema(request=None, responses={202: OpenApiResponse(description="Queued again.")})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        del pk  # get_object() reads it from the URL
        task = self.get_object()
        ids = tasks_rerun(owner=_owner(request), task_ids=[task.pk])
        return Response({"tasks": ids, "message": "Queued again."}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="tasks_rerun_many",
        request=TaskRerunSerializer,
        responses={202: OpenApiResponse(description="Queued again.")},
    )
    @action(detail=False, methods=["post"], url_path="rerun")
    def rerun_many(self, request: Request) -> Response:
        form = TaskRerunSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids = tasks_rerun(
            owner=_owner(request),
            task_ids=form.validated_data.get("ids"),
            stale=form.validated_data["stale"],
        )
        return Response(
            {"tasks": ids, "message": f"Queued {len(ids)} task(s) again."},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The original image.")})
    @action(detail=True, methods=["get"])
    def image(self, request: Request, pk: str | None = None) -> FileResponse:
        del pk  # get_object() reads it from the URL
        return task_file_response(
            self.get_object().image, download_name=self.get_object().original_name
        )

    @extend_schema(
        responses={
            (200, "image/jpeg"): OpenApiResponse(
                description="A preview within 320x320 (older uploads: WEBP)."
            )
        }
    )
    @action(detail=True, methods=["get"])
    def thumbnail(self, request: Request, pk: str | None = None) -> FileResponse:
        del pk  # get_object() reads it from the URL
        return task_file_response(self.get_object().thumbnail, download_name=None)


class StatsView(APIView):
    """Counts of your tasks by status, scene and object class, and the queue depth."""

    @extend_schema(responses={200: OpenApiResponse(description="Counts.")})
    def get(self, request: Request) -> Response:
        return Response(task_stats(owner=_owner(request)))
