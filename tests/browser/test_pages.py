"""The browser experience end to end: Chromium against the live server and a real worker.

Upload two images by drag-and-drop, watch them finish, open a result and see its boxes
drawn with the labels the API returns, move the confidence slider and see boxes go,
filter the gallery by a scene, revoke a token; screenshots of every page go to
var/screenshots/ for a person to look at.
"""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument,redefined-outer-name

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from ml_models.models import ModelVersion
from ml_models.training.synthetic import SceneGenerator
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import WorkerProcess
from tests.factories import UserFactory
from tests.predictions.test_views import done_task

pytestmark = pytest.mark.django_db(transaction=True)

FINISH_TIMEOUT_MS = 180_000

DROP_FILES = """
([dropzone, files]) => {
  const transfer = new DataTransfer();
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], file.name, { type: file.type }));
  }
  for (const name of ["dragenter", "dragover", "drop"]) {
    dropzone.dispatchEvent(
      new DragEvent(name, { dataTransfer: transfer, bubbles: true, cancelable: true })
    );
  }
}
"""


def _scene_jpeg(index: int) -> dict[str, str]:
    sample = SceneGenerator(seed=2024).sample(index)
    buffer = io.BytesIO()
    sample.image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return {
        "name": f"{sample.scene}-{index}.jpg",
        "type": "image/jpeg",
        "data": base64.b64encode(buffer.getvalue()).decode(),
    }


def _drop(page: Page, files: list[dict[str, str]]) -> None:
    page.evaluate(DROP_FILES, [page.query_selector("#dropzone"), files])


def _api(page: Page, path: str) -> Any:
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status}"
    return response.json()


def _visible_boxes(page: Page) -> int:
    return int(page.locator(".boxes .box:not(.is-hidden)").count())


@pytest.fixture
def person(db: None) -> User:
    user: User = UserFactory.create(username="ada")
    return user


def test_upload_watch_results_and_explore_them(  # pylint: disable=too-many-statements
    worker: WorkerProcess, page: Page, person: User
) -> None:
    active = set(ModelVersion.objects.filter(is_active=True).values_list("kind", flat=True))
    assert active == {"detector", "scene"}, "the shipped model versions are not active"
    sign_in(page, "ada")
    page.goto("/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    screenshot(page, "01-upload-empty")

    images = [_scene_jpeg(0), _scene_jpeg(1)]
    notes = {"name": "notes.txt", "type": "text/plain", "data": base64.b64encode(b"hi").decode()}
    _drop(page, [*images, notes])

    # The text file is turned away in the browser, with the reason.
    rejected = page.locator('.upload-row[data-state="rejected"]')
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("notes.txt")
    expect(rejected).to_contain_text("Not an image")
    # Both images are uploaded, then followed live until done.
    try:
        page.wait_for_function(
            "document.querySelectorAll('.upload-row[data-state=done]').length === 2",
            timeout=FINISH_TIMEOUT_MS,
        )
    finally:
        screenshot(page, "02-upload-done")
    expect(page.locator("#upload-summary")).to_contain_text("2 of 2 done")

    links = page.locator(".upload-row .result-link")
    expect(links).to_have_count(2)
    task_ids = [
        int(str(links.nth(index).get_attribute("href")).strip("/").rsplit("/", maxsplit=1)[-1])
        for index in range(2)
    ]
    results = {task_id: _api(page, f"/api/v1/tasks/{task_id}/") for task_id in task_ids}
    assert all(result["status"] == "done" for result in results.values())
    # Look at the result with the most boxes (the model's quality is not the question).
    task_id = max(task_ids, key=lambda key: len(results[key]["objects"]))
    result = results[task_id]
    objects = result["objects"]
    assert objects, "the detector reported no object in either image"

    page.goto(f"/tasks/{task_id}/")
    expect(page.get_by_role("heading", name=result["file"])).to_be_visible()
    boxes = page.locator(".boxes .box")
    expect(boxes).to_have_count(len(objects))
    drawn = [
        (str(boxes.nth(index).get_attribute("data-label")), boxes.nth(index).text_content())
        for index in range(len(objects))
    ]
    # Painted weakest first, so that the strongest boxes and labels end on top.
    painted = sorted(objects, key=lambda item: item["score"])
    assert [label for label, _ in drawn] == [item["label"] for item in painted]
    for (_, text), item in zip(drawn, painted, strict=True):
        assert f"{item['score']:.2f}" in str(text)
    # Boxes sit where the API says: the SVG uses the image's pixel coordinates.
    first = boxes.nth(0).locator("rect.box-outline")
    assert float(str(first.get_attribute("x"))) == pytest.approx(painted[0]["box"][0], abs=0.1)
    assert float(str(first.get_attribute("width"))) == pytest.approx(
        painted[0]["box"][2] - painted[0]["box"][0], abs=0.2
    )
    default = float(str(page.locator("#min-score").input_value()))
    assert _visible_boxes(page) == sum(1 for item in objects if item["score"] >= default)
    screenshot(page, "03-detail")

    slider = page.locator("#min-score")
    slider.focus()
    page.keyboard.press("Home")  # lowest confidence: every box
    assert _visible_boxes(page) == len(objects)
    screenshot(page, "03b-detail-every-box", full_page=False)
    page.keyboard.press("End")  # highest confidence: boxes disappear
    assert _visible_boxes(page) == sum(1 for item in objects if item["score"] >= 1.0)
    assert _visible_boxes(page) < len(objects)
    expect(page.locator("#min-score-value")).to_have_text("1.00")
    page.keyboard.press("Home")
    # A class toggle hides that class's boxes.
    hidden_label = objects[0]["label"]
    page.locator(f'[data-class-toggle][value="{hidden_label}"]').uncheck()
    assert _visible_boxes(page) == sum(1 for item in objects if item["label"] != hidden_label)
    page.locator(f'[data-class-toggle][value="{hidden_label}"]').check()

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "04-detail-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The gallery, filtered by the scene of one of the results.
    scene = result["scene"]["label"]
    page.goto("/gallery/")
    expect(page.locator(".gallery-card")).to_have_count(2)
    screenshot(page, "05-gallery")
    page.get_by_label("Scene").select_option(scene)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**/gallery/?*scene={scene}*")
    expected = sorted(key for key, value in results.items() if value["scene"]["label"] == scene)
    cards = page.locator(".gallery-card input[name=tasks]")
    expect(cards).to_have_count(len(expected))
    assert sorted(int(str(cards.nth(i).get_attribute("value"))) for i in range(len(expected))) == (
        expected
    )
    screenshot(page, "06-gallery-filtered")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/gallery/")
    screenshot(page, "07-gallery-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto("/dashboard/")
    expect(page.locator(".tile-value").first).to_have_text("2")
    screenshot(page, "08-dashboard")

    # Staff see the same tasks in the admin, with the predictions from their shard.
    person.is_staff = True
    person.is_superuser = True
    person.save(update_fields=["is_staff", "is_superuser"])
    page.goto("/admin/predictions/task/")
    screenshot(page, "09-admin-tasks")
    page.goto(f"/admin/predictions/task/{task_id}/change/")
    expect(page.locator(".field-predictions_table")).to_contain_text(objects[0]["label"])
    screenshot(page, "10-admin-task")
    page.goto("/admin/ml_models/objectclass/")
    screenshot(page, "11-admin-object-classes")
    page.goto("/admin/ml_models/modelversion/")
    screenshot(page, "12-admin-model-versions")


def test_create_and_revoke_a_token(page: Page, person: User) -> None:
    sign_in(page, "ada")
    page.goto("/accounts/tokens/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-key")).to_be_visible()
    screenshot(page, "13-tokens")

    page.get_by_role("button", name="Revoke token laptop").click()

    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.get_by_role("button", name="Revoke token laptop")).to_have_count(0)


def test_empty_gallery_and_upload_errors_are_explained(page: Page, person: User) -> None:
    sign_in(page, "ada")
    page.goto("/gallery/")
    expect(page.get_by_role("heading", name="No images yet")).to_be_visible()
    screenshot(page, "14-gallery-empty")
    page.goto("/dashboard/")
    screenshot(page, "15-dashboard-empty")

    # A file that looks like an image but is not one: the server's message is shown.
    page.goto("/")
    fake = {"name": "fake.png", "type": "image/png", "data": base64.b64encode(b"nope").decode()}
    _drop(page, [fake])
    row = page.locator('.upload-row[data-state="rejected"]')
    expect(row).to_have_count(1)
    assert "fake.png" in str(row.text_content())
    assert len(str(row.locator(".upload-detail").text_content())) > 10
    screenshot(page, "16-upload-rejected")


def test_class_counts_follow_the_confidence_slider(page: Page, person: User) -> None:
    task = done_task(person)  # triangle 0.93, square 0.81, circle 0.12
    sign_in(page, "ada")
    page.goto(f"/tasks/{task.pk}/")

    def counts() -> dict[str, str]:
        return {
            str(label): str(page.locator(f'[data-class-count="{label}"]').text_content())
            for label in ("circle", "square", "triangle")
        }

    at_first = counts()
    slider = page.locator("#min-score")
    slider.fill("0.1")  # range inputs take fill(); it fires "input" as a drag would
    lowered = counts()
    slider.fill("0.9")
    raised = counts()

    assert at_first == {"circle": "0", "square": "1", "triangle": "1"}
    assert lowered == {"circle": "1", "square": "1", "triangle": "1"}
    assert raised == {"circle": "0", "square": "0", "triangle": "1"}
    # The strongest box is painted last, on top of the others.
    assert page.locator(".boxes .box").last.get_attribute("data-label") == "triangle"
