"""The tasks API: submission answers, bad inputs and owner isolation."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io
from typing import Any

import pytest
from pytest_django.fixtures import SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from ml_models.models import ModelVersion
from predictions.models import Task
from predictions.services import PredictionRow, predictions_insert
from tests.factories import TaskFactory, UserFactory
from tests.images import decompression_bomb_png, png_bytes, truncated_jpeg_bytes, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> User:
    return UserFactory.create()


@pytest.fixture
def client(owner: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(owner)
    return api


def _file(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_anonymous_requests_are_refused_with_the_error_shape() -> None:
    response = APIClient().get("/api/v1/tasks/")

    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert response.json()["error"]["message"]


def test_submitting_images_answers_202_with_tasks_and_per_file_errors(client: APIClient) -> None:
    response = client.post(
        "/api/v1/tasks/",
        {"image": [_file("a.png", png_bytes()), _file("notes.jpg", b"plain text")]},
        format="multipart",
    )

    assert response.status_code == 202
    body = response.json()
    assert [task["status"] for task in body["tasks"]] == ["queued"]
    assert body["tasks"][0]["url"].endswith(f"/api/v1/tasks/{body['tasks'][0]['id']}/")
    assert body["errors"] == [
        {"file": "notes.jpg", "error": "the file is not an image that can be decoded."}
    ]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.jpg", b"", "empty"),
        ("notes.jpg", b"hello, I am text\n" * 20, "not an image"),
        ("half.jpg", truncated_jpeg_bytes(), "damaged or truncated"),
        ("bomb.png", decompression_bomb_png(), "decompression bomb"),
    ],
)
def test_each_bad_file_gets_a_clear_400(
    client: APIClient, name: str, data: bytes, expected: str
) -> None:
    response = client.post("/api/v1/tasks/", {"image": [_file(name, data)]}, format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert name in body["error"]["message"]
    assert expected in body["errors"][0]["error"]
    assert not Task.objects.exists()


def test_oversized_file_gets_a_clear_400(client: APIClient, settings: SettingsWrapper) -> None:
    settings.UPLOAD_MAX_BYTES = 2000
    response = client.post(
        "/api/v1/tasks/",
        {"image": [_file("big.png", png_bytes(400, 400) + b"\0" * 4000)]},
        format="multipart",
    )

    assert response.status_code in {400, 413}
    assert "limit" in response.json()["error"]["message"]


def test_zip_with_a_bad_member_accepts_the_rest(client: APIClient) -> None:
    archive = zip_bytes({"good.png": png_bytes(), "bad.jpg": truncated_jpeg_bytes()})

    response = client.post(
        "/api/v1/tasks/", {"archive": [_file("set.zip", archive)]}, format="multipart"
    )

    assert response.status_code == 202
    assert len(response.json()["tasks"]) == 1
    assert response.json()["errors"][0]["file"] == "set.zip/bad.jpg"


def test_a_file_that_is_not_a_zip_gets_a_clear_400(client: APIClient) -> None:
    response = client.post(
        "/api/v1/tasks/", {"archive": [_file("set.zip", b"nope")]}, format="multipart"
    )

    assert response.status_code == 400
    assert "not a valid ZIP" in response.json()["error"]["message"]


def test_no_files_at_all_is_a_400(client: APIClient) -> None:
    response = client.post("/api/v1/tasks/", {}, format="multipart")

    assert response.status_code == 400
    assert "image" in response.json()["error"]["message"]


def test_another_users_task_is_a_404_everywhere(client: APIClient, owner: User) -> None:
    submitted = client.post(
        "/api/v1/tasks/", {"image": [_file("a.png", png_bytes())]}, format="multipart"
    )
    task_id = submitted.json()["tasks"][0]["id"]
    intruder = APIClient()
    intruder.force_authenticate(UserFactory.create())

    for method, url in [
        ("get", f"/api/v1/tasks/{task_id}/"),
        ("get", f"/api/v1/tasks/{task_id}/image/"),
        ("get", f"/api/v1/tasks/{task_id}/thumbnail/"),
        ("post", f"/api/v1/tasks/{task_id}/rerun/"),
        ("delete", f"/api/v1/tasks/{task_id}/"),
    ]:
        response = getattr(intruder, method)(url)
        assert response.status_code == 404, (method, url)
    assert intruder.get("/api/v1/tasks/").json()["results"] == []
    assert (
        intruder.post("/api/v1/tasks/rerun/", {"ids": [task_id]}, format="json").json()["tasks"]
        == []
    )
    assert Task.objects.get(pk=task_id).owner == owner

    assert client.get(f"/api/v1/tasks/{task_id}/image/").status_code == 200
    assert client.get(f"/api/v1/tasks/{task_id}/thumbnail/")["Content-Type"] == "image/jpeg"


def test_done_task_returns_spec_fields(client: APIClient, owner: User) -> None:
    detector = ModelVersion.objects.create(
        kind="detector", name="det-v1", architecture="x", weights_path="x"
    )
    scene = ModelVersion.objects.create(
        kind="scene", name="scene-v1", architecture="x", weights_path="x"
    )
    task = TaskFactory.create(
        owner=owner, status=Task.Status.DONE, detector_version=detector, scene_version=scene
    )
    predictions_insert(
        rows=[
            PredictionRow(
                task_id=task.pk,
                kind="scene",
                score=0.9,
                model_version_id=scene.pk,
                scene_class_id=1,
            ),
            PredictionRow(
                task_id=task.pk,
                kind="scene",
                score=0.05,
                model_version_id=scene.pk,
                scene_class_id=2,
            ),
            PredictionRow(
                task_id=task.pk,
                kind="object",
                score=0.8,
                model_version_id=detector.pk,
                object_class_id=1,
                box=(1.0, 2.0, 3.0, 4.0),
            ),
        ]
    )

    body = client.get(f"/api/v1/tasks/{task.pk}/").json()

    assert body["status"] == "done"
    assert {"file", "width", "height", "scene", "objects", "models"} <= body.keys()
    assert body["scene"]["score"] == 0.9
    assert [entry["score"] for entry in body["scene"]["top"]] == [0.9, 0.05]
    assert body["objects"] == [
        {"label": body["objects"][0]["label"], "score": 0.8, "box": [1.0, 2.0, 3.0, 4.0]}
    ]
    assert body["models"] == {"detector": "det-v1", "scene": "scene-v1"}


def test_filters_and_keyset_pagination(client: APIClient, owner: User) -> None:
    tasks = [TaskFactory.create(owner=owner) for _ in range(5)]
    Task.objects.filter(pk=tasks[0].pk).update(status=Task.Status.DONE, object_counts={"star": 2})

    page = client.get("/api/v1/tasks/", {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert "cursor=" in page["next"]
    second = client.get(page["next"]).json()
    assert {t["id"] for t in second["results"]}.isdisjoint({t["id"] for t in page["results"]})

    assert [
        t["id"] for t in client.get("/api/v1/tasks/", {"object": "star"}).json()["results"]
    ] == [tasks[0].pk]
    assert [
        t["id"] for t in client.get("/api/v1/tasks/", {"status": "done"}).json()["results"]
    ] == [tasks[0].pk]


def test_stats_and_dictionaries(client: APIClient, owner: User) -> None:
    TaskFactory.create(owner=owner, status=Task.Status.DONE, object_counts={"circle": 2, "star": 1})
    TaskFactory.create(owner=owner, status=Task.Status.DONE, object_counts={"circle": 1})

    stats = client.get("/api/v1/stats/").json()

    assert stats["by_status"]["done"] == 2
    assert stats["by_object"] == {"circle": 3, "star": 1}
    assert {c["name"] for c in client.get("/api/v1/classes/objects/").json()} >= {"circle", "star"}
    assert {c["name"] for c in client.get("/api/v1/classes/scenes/").json()} >= {"house", "random"}
    assert client.get("/api/v1/models/").status_code == 200


def test_openapi_schema_and_swagger_ui_are_served(client: APIClient) -> None:
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200


def test_list_and_detail_query_counts_do_not_grow_with_tasks(
    client: APIClient, owner: User, django_assert_max_num_queries: Any
) -> None:
    scene = ModelVersion.objects.create(
        kind="scene", name="scene-q", architecture="x", weights_path="x"
    )
    tasks = [
        TaskFactory.create(
            owner=owner, status=Task.Status.DONE, scene_version=scene, detector_version=scene
        )
        for _ in range(30)
    ]

    with django_assert_max_num_queries(3):
        assert len(client.get("/api/v1/tasks/").json()["results"]) == 30
    with django_assert_max_num_queries(3):
        assert client.get(f"/api/v1/tasks/{tasks[0].pk}/").status_code == 200
