"""The pages: upload, gallery, detail, dashboard and the owner-checked files behind them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import SettingsWrapper

from accounts.models import User
from ml_models.models import ModelVersion, ObjectClass, SceneClass
from predictions.models import Task
from predictions.selectors import gallery_page, task_result, tasks_for_owner
from predictions.services import PredictionRow, predictions_insert
from tests.factories import ModelVersionFactory, TaskFactory, UserFactory
from tests.images import png_bytes

pytestmark = pytest.mark.django_db(databases="__all__")


DASH = "\N{EN DASH}"  # between the first and last image a gallery page shows


@pytest.fixture(name="owner")
def owner_fixture() -> User:
    user: User = UserFactory.create()
    return user


@pytest.fixture(name="browser")
def browser_fixture(client: Client, owner: User) -> Client:
    client.force_login(owner)
    return client


def done_task(owner: User, *, scene: str = "house", score: float = 0.9, **fields: Any) -> Task:
    """A finished task with two scene rows and three boxes stored on its shard."""
    detector = ModelVersionFactory.create(kind=ModelVersion.Kind.DETECTOR)
    scene_model = ModelVersionFactory.create(kind=ModelVersion.Kind.SCENE)
    scene_class = SceneClass.objects.get(name=scene)
    task: Task = TaskFactory.create(
        owner=owner,
        status=Task.Status.DONE,
        scene_class=scene_class,
        scene_score=score,
        object_counts={"triangle": 1, "square": 1},
        detector_version=detector,
        scene_version=scene_model,
        started_at=timezone.now() - timedelta(seconds=2),
        finished_at=timezone.now(),
        **fields,
    )
    objects = dict(ObjectClass.objects.values_list("name", "pk"))
    other_scene = SceneClass.objects.exclude(pk=scene_class.pk).first()
    assert other_scene is not None
    predictions_insert(
        rows=[
            PredictionRow(task.pk, "scene", score, scene_model.pk, scene_class_id=scene_class.pk),
            PredictionRow(task.pk, "scene", 0.05, scene_model.pk, scene_class_id=other_scene.pk),
            PredictionRow(
                task.pk, "object", 0.93, detector.pk, objects["triangle"], box=(10, 5, 60, 40)
            ),
            PredictionRow(
                task.pk, "object", 0.81, detector.pk, objects["square"], box=(12, 40, 58, 90)
            ),
            PredictionRow(
                task.pk, "object", 0.12, detector.pk, objects["circle"], box=(70, 70, 80, 80)
            ),
        ]
    )
    return task


def task_urls(task: Task) -> dict[str, tuple[str, str]]:
    """Every page and file URL of one task, with its method."""
    return {
        "detail": ("get", reverse("predictions:task_detail", args=[task.pk])),
        "image": ("get", reverse("predictions:task_image", args=[task.pk])),
        "thumbnail": ("get", reverse("predictions:task_thumbnail", args=[task.pk])),
        "json": ("get", reverse("predictions:task_json", args=[task.pk])),
        "rerun": ("post", reverse("predictions:task_rerun", args=[task.pk])),
        "delete": ("post", reverse("predictions:task_delete", args=[task.pk])),
        "api detail": ("get", f"/api/v1/tasks/{task.pk}/"),
        "api image": ("get", f"/api/v1/tasks/{task.pk}/image/"),
        "api thumbnail": ("get", f"/api/v1/tasks/{task.pk}/thumbnail/"),
        "api rerun": ("post", f"/api/v1/tasks/{task.pk}/rerun/"),
        "api delete": ("delete", f"/api/v1/tasks/{task.pk}/"),
    }


# --- Permissions ----------------------------------------------------------------------


def test_another_users_task_is_a_404_everywhere(browser: Client, media_root: Path) -> None:
    stranger_task = done_task(UserFactory.create())
    (media_root / stranger_task.image.name).parent.mkdir(parents=True, exist_ok=True)
    (media_root / stranger_task.image.name).write_bytes(png_bytes())

    for name, (method, url) in task_urls(stranger_task).items():
        response = getattr(browser, method)(url)
        assert response.status_code == 404, name

    stranger_task.refresh_from_db()
    assert stranger_task.status == Task.Status.DONE  # not rerun, not deleted


def test_the_owner_gets_every_url_of_their_task(browser: Client, owner: User) -> None:
    task = done_task(owner)
    assert browser.get(reverse("predictions:task_detail", args=[task.pk])).status_code == 200
    response = browser.get(reverse("predictions:task_json", args=[task.pk]))
    assert response.status_code == 200


def test_status_endpoint_never_reports_others_tasks(browser: Client, owner: User) -> None:
    mine = TaskFactory.create(owner=owner)
    theirs = TaskFactory.create()

    response = browser.get(reverse("predictions:task_statuses"), {"ids": f"{mine.pk},{theirs.pk}"})

    assert response.status_code == 200
    assert [task["id"] for task in response.json()["tasks"]] == [mine.pk]


@pytest.mark.parametrize(
    "url_name",
    ["predictions:upload", "predictions:gallery", "predictions:dashboard"],
)
def test_anonymous_visitors_are_sent_to_sign_in(client: Client, url_name: str) -> None:
    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_anonymous_visitors_get_no_task_urls(client: Client) -> None:
    task = TaskFactory.create()
    for name, (method, url) in task_urls(task).items():
        if name.startswith("api"):
            continue
        response = getattr(client, method)(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("accounts:login")), name
    assert Task.objects.filter(pk=task.pk).exists()


# --- Upload -------------------------------------------------------------------------------


def test_upload_page_offers_drop_zone_and_configuration(browser: Client) -> None:
    response = browser.get(reverse("predictions:upload"))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="dropzone"' in content
    assert 'id="upload-config"' in content
    assert "/api/v1/tasks/" in content


def test_the_form_without_javascript_uploads_and_reports_bad_files(
    browser: Client, owner: User
) -> None:
    good = ("a.png", png_bytes())
    bad = ("notes.txt", b"not an image at all")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = browser.post(
        reverse("predictions:upload"),
        {"images": [SimpleUploadedFile(*good), SimpleUploadedFile(*bad)]},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("predictions:gallery")
    content = response.content.decode()
    assert "Accepted 1 image(s)." in content
    assert "notes.txt" in content
    assert list(Task.objects.filter(owner=owner).values_list("original_name", flat=True)) == [
        "a.png"
    ]


# --- Gallery ------------------------------------------------------------------------------


def test_gallery_is_empty_with_an_invitation_to_upload(browser: Client) -> None:
    response = browser.get(reverse("predictions:gallery"))

    assert response.status_code == 200
    assert "No images yet" in response.content.decode()


def test_gallery_shows_scene_objects_and_status(browser: Client, owner: User) -> None:
    done_task(owner, original_name="house.png")
    TaskFactory.create(owner=owner, original_name="waiting.png")

    content = browser.get(reverse("predictions:gallery")).content.decode()

    assert "house.png" in content and "waiting.png" in content
    assert "House" in content or "house" in content
    assert "1 Triangle" in content or "1 triangle" in content
    assert "Queued" in content


def test_gallery_filters_by_scene_object_and_status(browser: Client, owner: User) -> None:
    done_task(owner, scene="house", original_name="a-house.png")
    car = done_task(owner, scene="car", original_name="a-car.png")
    Task.objects.filter(pk=car.pk).update(object_counts={"circle": 2})
    TaskFactory.create(owner=owner, original_name="queued.png")
    url = reverse("predictions:gallery")

    def names(**query: str) -> set[str]:
        response = browser.get(url, query)
        return {item["task"].original_name for item in response.context["tasks"]}

    assert names(scene="car") == {"a-car.png"}
    assert names(object="triangle") == {"a-house.png"}
    assert names(status="queued") == {"queued.png"}
    assert names(created_after=timezone.now().date().isoformat()) == {
        "a-house.png",
        "a-car.png",
        "queued.png",
    }
    assert names(created_before=timezone.now().date().isoformat()) == set()


def test_gallery_sorts_by_score(browser: Client, owner: User) -> None:
    done_task(owner, score=0.5, original_name="middle.png")
    done_task(owner, score=0.9, original_name="best.png")
    done_task(owner, score=0.2, original_name="worst.png")
    TaskFactory.create(owner=owner, original_name="unscored.png")

    response = browser.get(reverse("predictions:gallery"), {"sort": "score"})

    assert [item["task"].original_name for item in response.context["tasks"]] == [
        "best.png",
        "middle.png",
        "worst.png",
    ]


@pytest.mark.parametrize("sort", ["newest", "score"])
def test_keyset_pagination_visits_every_task_once_without_offset_or_count(
    owner: User, sort: str
) -> None:
    tasks = TaskFactory.create_batch(7, owner=owner, scene_score=0.5)
    # Equal sort keys must still page deterministically (ties broken by id).
    Task.objects.filter(pk__in=[task.pk for task in tasks[:3]]).update(created_at=timezone.now())
    seen: list[int] = []
    cursor: str | None = None
    with CaptureQueriesContext(connection) as queries:
        while True:
            page = gallery_page(
                tasks=tasks_for_owner(owner=owner), sort=sort, cursor=cursor, page_size=3
            )
            seen.extend(task.pk for task in page.tasks)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    assert sorted(seen) == sorted(task.pk for task in tasks)
    assert len(seen) == len(set(seen))
    sql = " ".join(query["sql"].upper() for query in queries.captured_queries)
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql


def test_gallery_next_page_link_continues_the_list(browser: Client, owner: User) -> None:
    TaskFactory.create_batch(50, owner=owner)
    first = browser.get(reverse("predictions:gallery"))
    cursor = first.context["page"].next_cursor
    assert cursor is not None
    assert "Next page" in first.content.decode()

    second = browser.get(reverse("predictions:gallery"), {"cursor": cursor})

    first_ids = {item["task"].pk for item in first.context["tasks"]}
    second_ids = {item["task"].pk for item in second.context["tasks"]}
    assert len(first_ids) == 48 and len(second_ids) == 2
    assert not first_ids & second_ids
    assert second.context["page"].next_cursor is None


@pytest.mark.parametrize("sort", ["newest", "score"])
def test_gallery_says_which_images_of_how_many_a_page_shows(
    browser: Client, owner: User, sort: str
) -> None:
    TaskFactory.create_batch(50, owner=owner, scene_score=0.5)
    TaskFactory.create(owner=owner)  # unscored: not in the list sorted by score
    url = reverse("predictions:gallery")
    total = 51 if sort == "newest" else 50

    first = browser.get(url, {"sort": sort})
    second = browser.get(url, {"sort": sort, "cursor": first.context["page"].next_cursor})
    back = browser.get(url, {"sort": sort, "cursor": second.context["page"].previous_cursor})

    assert f"Images 1{DASH}48 of {total}" in first.content.decode()
    assert f"Images 49{DASH}{total} of {total}" in second.content.decode()
    assert f"Images 1{DASH}48 of {total}" in back.content.decode()


def test_gallery_filtered_count_is_of_the_matching_images(browser: Client, owner: User) -> None:
    done_task(owner, scene="car")
    done_task(owner, scene="house")

    content = browser.get(reverse("predictions:gallery"), {"scene": "car"}).content.decode()

    assert f"Images 1{DASH}1 of 1" in content


def test_gallery_explains_a_bad_date_in_the_words_of_the_form(browser: Client) -> None:
    response = browser.get(reverse("predictions:gallery"), {"created_after": "2026-13-45"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "“2026-13-45” is not a date: pick one under “From”" in content
    assert "created_after" not in response.context["filter_errors"][0]


@pytest.mark.parametrize(("name", "what"), [("scene", "scene"), ("object", "object class")])
def test_gallery_says_an_unknown_class_does_not_exist(
    browser: Client, owner: User, name: str, what: str
) -> None:
    done_task(owner)

    response = browser.get(reverse("predictions:gallery"), {name: "spaceship"})

    assert response.context["filter_errors"] == [
        f"There is no {what} “spaceship”: pick one from the list."
    ]
    assert "There is no" in response.content.decode()


def test_gallery_known_filters_raise_no_message(browser: Client, owner: User) -> None:
    done_task(owner)
    query = {"scene": "house", "object": "triangle", "created_after": "2020-01-01"}
    assert browser.get(reverse("predictions:gallery"), query).context["filter_errors"] == []


def test_a_broken_cursor_starts_from_the_beginning(browser: Client, owner: User) -> None:
    TaskFactory.create(owner=owner)
    response = browser.get(reverse("predictions:gallery"), {"cursor": "%%%not-base64"})
    assert response.status_code == 200
    assert len(response.context["tasks"]) == 1


def test_gallery_query_count_does_not_grow_with_tasks(
    browser: Client, owner: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    scenes = list(SceneClass.objects.all())
    for index in range(30):
        TaskFactory.create(
            owner=owner,
            status=Task.Status.DONE,
            scene_class=scenes[index % len(scenes)],
            scene_score=0.5,
            object_counts={"circle": 2, "star": 1},
        )

    # Two of them count the list and the images before the page, whatever its length.
    with django_assert_max_num_queries(8):
        response = browser.get(reverse("predictions:gallery"))  # rendered inside the block

    assert len(response.context["tasks"]) == 30


def test_bulk_rerun_and_delete_touch_only_ones_own_tasks(browser: Client, owner: User) -> None:
    mine = [done_task(owner), done_task(owner)]
    theirs = done_task(UserFactory.create())
    ids = [str(task.pk) for task in [*mine, theirs]]

    response = browser.post(reverse("predictions:gallery_bulk"), {"action": "rerun", "tasks": ids})
    assert response.status_code == 302
    assert set(Task.objects.filter(status=Task.Status.QUEUED).values_list("pk", flat=True)) == {
        task.pk for task in mine
    }

    browser.post(reverse("predictions:gallery_bulk"), {"action": "delete", "tasks": ids})
    assert list(Task.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_bulk_action_without_selection_says_so(browser: Client) -> None:
    response = browser.post(reverse("predictions:gallery_bulk"), {"action": "delete"}, follow=True)
    assert "Select at least one image." in response.content.decode()


# --- Detail -------------------------------------------------------------------------------


def test_detail_draws_every_box_with_label_score_and_class_colour(
    browser: Client, owner: User
) -> None:
    task = done_task(owner)
    triangle = ObjectClass.objects.get(name="triangle")

    response = browser.get(reverse("predictions:task_detail", args=[task.pk]))

    content = response.content.decode()
    assert content.count('<g class="box"') == 3
    assert 'data-label="triangle" data-score="0.9300"' in content
    assert f"--box-colour: {triangle.colour}" in content
    assert f'viewBox="0 0 {task.width} {task.height}"' in content
    assert f"{triangle.display_name} 0.93" in content
    assert 'id="min-score"' in content  # the confidence slider
    assert "Download JSON" in content


def test_detail_class_counts_only_boxes_at_or_above_the_threshold(
    browser: Client, owner: User, settings: SettingsWrapper
) -> None:
    settings.OBJECT_PRESENT_THRESHOLD = 0.5
    task = done_task(owner)  # triangle 0.93, square 0.81, circle 0.12

    content = browser.get(reverse("predictions:task_detail", args=[task.pk])).content.decode()

    counts = dict(re.findall(r'data-class-count="(\w+)">(\d+)<', content))
    assert counts == {"circle": "0", "square": "1", "triangle": "1"}
    assert task.object_counts == {"triangle": 1, "square": 1}  # what the gallery counts


def test_detail_draws_the_strongest_boxes_last(browser: Client, owner: User) -> None:
    task = done_task(owner)

    content = browser.get(reverse("predictions:task_detail", args=[task.pk])).content.decode()

    drawn = re.findall(r'<g class="box" data-label="(\w+)"', content)
    listed = re.findall(r'<tr data-label="(\w+)"', content)
    assert drawn == ["circle", "square", "triangle"]
    assert listed == ["triangle", "square", "circle"]  # the table keeps the strongest first


def _facts(content: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>(\w+)</dt><dd>(.*?)</dd>", content))


def test_after_a_rerun_the_page_shows_only_the_reruns_own_times(
    browser: Client, owner: User
) -> None:
    long_ago = timezone.now() - timedelta(minutes=5)
    task = done_task(owner)
    Task.objects.filter(pk=task.pk).update(
        created_at=long_ago,
        started_at=long_ago + timedelta(seconds=1),
        finished_at=long_ago + timedelta(seconds=3),
    )
    url = reverse("predictions:task_detail", args=[task.pk])
    first_run = _facts(browser.get(url).content.decode())

    browser.post(reverse("predictions:task_rerun", args=[task.pk]))
    while_queued = _facts(browser.get(url).content.decode())
    rerun_at = Task.objects.get(pk=task.pk).rerun_at
    assert rerun_at is not None
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.DONE,
        started_at=rerun_at + timedelta(seconds=1.5),
        finished_at=rerun_at + timedelta(seconds=2),
    )
    rerun_done = _facts(browser.get(url).content.decode())

    assert (first_run["Waited"], first_run["Analysis"]) == ("1.00 s in the queue", "2.00 s")
    assert {"Waited", "Analysis", "Finished"}.isdisjoint(while_queued)
    assert (rerun_done["Waited"], rerun_done["Analysis"]) == ("1.50 s in the queue", "0.50 s")


def test_detail_query_count(
    browser: Client, owner: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    task = done_task(owner)
    with django_assert_max_num_queries(8):
        browser.get(reverse("predictions:task_detail", args=[task.pk]))


def test_detail_of_a_queued_task_shows_progress(browser: Client, owner: User) -> None:
    task = TaskFactory.create(owner=owner)
    content = browser.get(reverse("predictions:task_detail", args=[task.pk])).content.decode()
    assert "Waiting for a worker" in content
    assert "data-refresh" in content


def test_detail_of_a_failed_task_shows_the_error(browser: Client, owner: User) -> None:
    task = TaskFactory.create(owner=owner, status=Task.Status.FAILED, error="Cannot decode.")
    content = browser.get(reverse("predictions:task_detail", args=[task.pk])).content.decode()
    assert "Analysis failed" in content
    assert "Cannot decode." in content


def test_json_download_is_the_spec_format(browser: Client, owner: User) -> None:
    task = done_task(owner, original_name="house.png")

    response = browser.get(reverse("predictions:task_json", args=[task.pk]))

    assert response["Content-Disposition"] == 'attachment; filename="house.json"'
    body = json.loads(response.content)
    assert body == json.loads(json.dumps(task_result(task=task)))
    assert set(body) == {"file", "width", "height", "scene", "objects", "models"}
    assert [item["label"] for item in body["objects"]] == ["triangle", "square", "circle"]


def test_json_of_an_unfinished_task_is_a_404(browser: Client, owner: User) -> None:
    task = TaskFactory.create(owner=owner)
    assert browser.get(reverse("predictions:task_json", args=[task.pk])).status_code == 404


def test_rerun_and_delete_from_the_detail_page(browser: Client, owner: User) -> None:
    task = done_task(owner)

    response = browser.post(reverse("predictions:task_rerun", args=[task.pk]))
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == Task.Status.QUEUED

    response = browser.post(reverse("predictions:task_delete", args=[task.pk]))
    assert response["Location"] == reverse("predictions:gallery")
    assert not Task.objects.filter(pk=task.pk).exists()


# --- Dashboard ----------------------------------------------------------------------------


def test_dashboard_counts_and_throughput(
    browser: Client, owner: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    done_task(owner, scene="house")
    done_task(owner, scene="car")
    TaskFactory.create(owner=owner)
    TaskFactory.create(owner=UserFactory.create())  # not counted

    with django_assert_max_num_queries(10):
        response = browser.get(reverse("predictions:dashboard"))
        content = response.content.decode()

    assert response.context["total"] == 3
    assert response.context["throughput"]["total"] == 2
    by_status = {row["label"]: row["count"] for row in response.context["by_status"]}
    assert by_status == {"Queued": 1, "Running": 0, "Done": 2, "Failed": 0}
    assert "By scene" in content and "Active models" in content


def test_dashboard_empty_state(browser: Client) -> None:
    content = browser.get(reverse("predictions:dashboard")).content.decode()
    assert "No finished images yet." in content


def test_model_plots_are_served_only_to_signed_in_users(
    browser: Client, client: Client, media_root: Path
) -> None:
    plot = media_root / "model_metrics" / "v1" / "confusion.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(png_bytes())
    version = ModelVersionFactory.create(
        kind=ModelVersion.Kind.SCENE,
        is_active=False,
        metrics={
            "accuracy": 0.9,
            "evaluation": {"scene": {"plot": "model_metrics/v1/confusion.png"}},
        },
    )
    url = reverse("predictions:model_plot", args=[version.pk, "scene"])

    response = browser.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]

    client.logout()
    assert Client().get(url).status_code == 302


def test_model_plot_paths_outside_media_are_refused(browser: Client) -> None:
    version = ModelVersionFactory.create(
        metrics={"evaluation": {"detection": {"plot": "../../etc/passwd"}}}
    )
    url = reverse("predictions:model_plot", args=[version.pk, "detection"])
    assert browser.get(url).status_code == 404


def test_the_active_shipped_versions_plots_are_served(browser: Client) -> None:
    """The migrations register the shipped versions with plots next to their weights
    (ml_models/weights/), not under MEDIA_ROOT: the dashboard's images must load."""
    content = browser.get(reverse("predictions:dashboard")).content.decode()
    active = list(ModelVersion.objects.filter(is_active=True))
    assert {version.kind for version in active} == {"detector", "scene"}

    for version in active:
        part = "detection" if version.kind == ModelVersion.Kind.DETECTOR else "scene"
        url = reverse("predictions:model_plot", args=[version.pk, part])
        assert f'src="{url}"' in content
        response = browser.get(url)
        assert response.status_code == 200, version.name
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]


def test_a_plot_next_to_a_versions_weights_is_served_but_nothing_else_there(
    browser: Client, settings: Any, tmp_path: Path
) -> None:
    settings.MODEL_WEIGHTS_DIR = tmp_path
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "v9.confusion.png").write_bytes(png_bytes())
    (tmp_path / "run" / "v9.safetensors").write_bytes(b"weights")
    version = ModelVersionFactory.create(
        kind=ModelVersion.Kind.SCENE,
        weights_path="run/v9.safetensors",
        metrics={"evaluation": {"scene": {"plot": "v9.confusion.png"}}},
    )
    url = reverse("predictions:model_plot", args=[version.pk, "scene"])
    assert browser.get(url).status_code == 200

    for plot in ("v9.safetensors", "../../etc/passwd", "/etc/hostname"):
        version.metrics = {"evaluation": {"scene": {"plot": plot}}}
        version.save()
        assert browser.get(url).status_code == 404, plot


def test_each_model_card_shows_its_own_metrics_and_plot(browser: Client) -> None:
    # What a shipped card records on both versions of its joint network.
    metrics = {
        "map_50": 0.9671,
        "map_50_95": 0.8402,
        "scene_accuracy": 0.9951,
        "evaluation": {
            "detection": {"map_50": 0.9671, "plot": "v.per_class_ap.png"},
            "scene": {"accuracy": 0.9951, "plot": "v.confusion.png"},
        },
    }
    ModelVersion.objects.update(is_active=False)
    detector = ModelVersionFactory.create(
        kind=ModelVersion.Kind.DETECTOR, is_active=True, metrics=metrics
    )
    scene = ModelVersionFactory.create(
        kind=ModelVersion.Kind.SCENE, is_active=True, metrics=metrics
    )

    content = browser.get(reverse("predictions:dashboard")).content.decode()
    cards = {
        card.split("<code>", 1)[1].split("</code>", 1)[0]: card
        for card in content.split('<article class="card model-card">')[1:]
    }

    assert "<dt>map_50</dt><dd>0.967</dd>" in cards[detector.name]
    assert "scene_accuracy" not in cards[detector.name]
    assert (
        reverse("predictions:model_plot", args=[detector.pk, "detection"]) in cards[detector.name]
    )
    assert "/scene.png" not in cards[detector.name]
    assert "<dt>scene_accuracy</dt><dd>0.995</dd>" in cards[scene.name]
    assert "map_50" not in cards[scene.name]
    assert reverse("predictions:model_plot", args=[scene.pk, "scene"]) in cards[scene.name]
    assert "/detection.png" not in cards[scene.name]


@pytest.mark.parametrize("sort", ["newest", "score"])
def test_previous_page_walks_back_through_the_same_pages(owner: User, sort: str) -> None:
    tasks = TaskFactory.create_batch(8, owner=owner, scene_score=0.5)
    Task.objects.filter(pk__in=[task.pk for task in tasks[:4]]).update(created_at=timezone.now())
    forward: list[list[int]] = []
    cursor: str | None = None
    while True:
        page = gallery_page(
            tasks=tasks_for_owner(owner=owner), sort=sort, cursor=cursor, page_size=3
        )
        forward.append([task.pk for task in page.tasks])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    previous = page.previous_cursor
    assert previous is not None
    backward = [[task.pk for task in page.tasks]]
    while previous is not None:
        page = gallery_page(
            tasks=tasks_for_owner(owner=owner), sort=sort, cursor=previous, page_size=3
        )
        backward.append([task.pk for task in page.tasks])
        assert page.next_cursor is not None  # every page reached backwards has a next one
        previous = page.previous_cursor

    assert [len(ids) for ids in forward] == [3, 3, 2]
    assert backward == list(reversed(forward))


def test_gallery_links_to_the_previous_page(browser: Client, owner: User) -> None:
    TaskFactory.create_batch(50, owner=owner)
    first = browser.get(reverse("predictions:gallery"))
    assert "Previous page" not in first.content.decode()
    second = browser.get(
        reverse("predictions:gallery"), {"cursor": first.context["page"].next_cursor}
    )
    assert "Previous page" in second.content.decode()

    back = browser.get(
        reverse("predictions:gallery"), {"cursor": second.context["page"].previous_cursor}
    )

    assert [i["task"].pk for i in back.context["tasks"]] == [
        i["task"].pk for i in first.context["tasks"]
    ]
    assert back.context["first_page"]
