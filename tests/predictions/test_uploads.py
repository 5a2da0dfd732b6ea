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
    assert image.thumbnail.startswith(b"RIFF")


def test_exif_orientation_swaps_the_recorded_size() -> None:
    image = image_validate(upload=UploadedFile("rotated.jpg", jpeg_bytes(64, 48, orientation=6)))

    assert (image.width, image.height) == (48, 64)
    with Image.open(io.BytesIO(image.thumbnail)) as preview:
        assert preview.size == (48, 64)  # the preview is upright too


@pytest.mark.parametrize(
    ("size", "preview"), [((1000, 500), (320, 160)), ((300, 900), (107, 320)), ((64, 48), (64, 48))]
)
def test_thumbnail_fits_the_box_and_keeps_the_aspect(
    size: tuple[int, int], preview: tuple[int, int]
) -> None:
    image = image_validate(upload=UploadedFile("a.jpg", jpeg_bytes(*size)))

    with Image.open(io.BytesIO(image.thumbnail)) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("WEBP", preview)


def test_empty_file_is_rejected() -> None:
    assert "empty" in _error("empty.jpg", b"")


def test_text_renamed_to_jpg_is_rejected() -> None:
    assert "not an image" in _error("notes.jpg", b"just some text, not a picture\n" * 10)


def test_truncated_jpeg_is_rejected() -> None:
    assert "damaged or truncated" in _error("half.jpg", truncated_jpeg_bytes())


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
