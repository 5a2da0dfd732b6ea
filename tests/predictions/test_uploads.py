"""Upload validation: real image content, limits, bombs, ZIP members."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from pytest_django.fixtures import SettingsWrapper

from accounts.models import User
from predictions.models import Task
from predictions.uploads import UploadedFile, UploadError, image_validate, tasks_submit
from tests.factories import UserFactory
from tests.images import (
    decompression_bomb_png,
    jpeg_bytes,
    png_bytes,
    truncated_jpeg_bytes,
    zip_bytes,
)


def _error(name: str, data: bytes) -> str:
    with pytest.raises(UploadError) as raised:
        image_validate(upload=UploadedFile(name, data))
    assert raised.value.file_name == name
    return raised.value.message


def test_a_valid_png_is_accepted_with_its_size_and_hash() -> None:
    image = image_validate(upload=UploadedFile("a.png", png_bytes(64, 48)))

    assert (image.width, image.height, image.extension) == (64, 48, "png")
    assert len(image.content_hash) == 64
    assert image.thumbnail.startswith(b"\xff\xd8")  # a JPEG


@pytest.mark.parametrize(
    ("stored", "upright", "preview"),
    [((64, 48), (48, 64), (48, 64)), ((3000, 2000), (2000, 3000), (213, 320))],
)
def test_exif_orientation_swaps_the_recorded_size(
    stored: tuple[int, int], upright: tuple[int, int], preview: tuple[int, int]
) -> None:
    data = jpeg_bytes(*stored, orientation=6)
    image = image_validate(upload=UploadedFile("rotated.jpg", data))

    assert (image.width, image.height) == upright  # the full size, also when decoded small
    with Image.open(io.BytesIO(image.thumbnail)) as thumbnail:
        assert thumbnail.size == preview  # the preview is upright too


@pytest.mark.parametrize(
    ("size", "preview"),
    [
        ((1000, 500), (320, 160)),
        ((300, 900), (107, 320)),
        ((64, 48), (64, 48)),
        ((4000, 3000), (320, 240)),  # a camera photo: decoded at 1/8 scale for its preview
        ((2001, 1001), (320, 160)),  # DCT scaling rounds up; the preview is resized after
    ],
)
def test_thumbnail_fits_the_box_and_keeps_the_aspect(
    size: tuple[int, int], preview: tuple[int, int]
) -> None:
    image = image_validate(upload=UploadedFile("a.jpg", jpeg_bytes(*size)))

    with Image.open(io.BytesIO(image.thumbnail)) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", preview)


def test_empty_file_is_rejected() -> None:
    assert "empty" in _error("empty.jpg", b"")


def test_text_renamed_to_jpg_is_rejected() -> None:
    assert "not an image" in _error("notes.jpg", b"just some text, not a picture\n" * 10)


@pytest.mark.parametrize("size", [(320, 240), (4000, 3000)])  # full or DCT-scaled decode
def test_truncated_jpeg_is_rejected(size: tuple[int, int]) -> None:
    assert "damaged or truncated" in _error("half.jpg", truncated_jpeg_bytes(*size))


def test_decompression_bomb_is_refused() -> None:
    assert "decompression bomb" in _error("bomb.png", decompression_bomb_png())


def test_oversized_file_is_rejected(settings: SettingsWrapper) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    assert "limit" in _error("big.png", png_bytes(256, 256, colour="green") + b"\x00" * 2000)


@pytest.mark.django_db
def test_zip_expands_into_one_task_per_image_with_errors_for_the_rest() -> None:
    owner: User = UserFactory.create()
    archive = zip_bytes(
        {
            "one.png": png_bytes(colour="white"),
            "sub/two.jpg": jpeg_bytes(),
            "readme.txt": b"not an image",
            "__MACOSX/._one.png": b"resource fork",
        }
    )

    result = tasks_submit(owner=owner, files=[], archives=[UploadedFile("batch.zip", archive)])

    assert sorted(task.original_name for task in result.tasks) == [
        "batch.zip/one.png",
        "batch.zip/sub/two.jpg",
    ]
    assert [error.file_name for error in result.errors] == ["batch.zip/readme.txt"]
    assert Task.objects.filter(owner=owner, status=Task.Status.QUEUED).count() == 2


@pytest.mark.django_db
def test_identical_content_is_stored_once() -> None:
    owner: User = UserFactory.create()
    data = png_bytes(colour="yellow")

    result = tasks_submit(
        owner=owner, files=[UploadedFile("a.png", data), UploadedFile("b.png", data)]
    )

    assert len(result.tasks) == 2
    first, second = result.tasks[0], result.tasks[1]
    assert first.image.name == second.image.name
    assert default_storage.exists(first.image.name)
    assert default_storage.exists(first.thumbnail.name)
