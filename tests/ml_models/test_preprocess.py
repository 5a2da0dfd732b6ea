"""Real uploads: odd modes, EXIF orientation, bad files, letterboxing."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ml_models.inference.preprocess import (
    ImageLoadError,
    batch_images,
    canvas_shape,
    decode_image,
    letterbox,
    letterbox_uploaded,
    load_image,
    normalise,
    upload_images,
)
from tests.images import decompression_bomb_png, truncated_jpeg_bytes


def _saved(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _marked(width: int = 60, height: int = 40) -> Image.Image:
    """White image with a red block in the top-left corner (x 0-9, y 0-4)."""
    image = Image.new("RGB", (width, height), "white")
    image.paste((255, 0, 0), (0, 0, 10, 5))
    return image


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("L", "PNG"),
        ("1", "PNG"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
    ],
)
def test_odd_modes_become_rgb(mode: str, fmt: str) -> None:
    if mode == "I;16":  # 16-bit grayscale, as scanners and medical viewers write it
        source = Image.fromarray(np.asarray(_marked().convert("L"), dtype=np.uint16) * 257)
        assert source.mode == "I;16"
    else:
        source = _marked().convert(mode)
    image = load_image(_saved(source, fmt))
    assert image.mode == "RGB"
    assert image.size == (60, 40)
    # the marked corner stays darker than the white background in every mode (mode "1"
    # dithers it, so compare the block's mean)
    pixels = np.asarray(image, dtype=np.float64)
    assert pixels[0:5, 0:10].mean() < pixels[20:40, 30:60].mean() - 50


def test_transparent_pixels_are_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert load_image(_saved(image, "PNG")).getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("orientation", "size", "red_pixel"),
    [
        (1, (60, 40), (2, 2)),
        (3, (60, 40), (57, 37)),  # rotated 180
        (6, (40, 60), (37, 2)),  # stored rotated: shown turned 90 degrees clockwise
        (8, (40, 60), (2, 57)),  # shown turned 90 degrees counter-clockwise
    ],
)
def test_exif_orientation_is_applied(
    orientation: int, size: tuple[int, int], red_pixel: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = load_image(_saved(_marked(), "JPEG", quality=95, exif=exif.tobytes()))
    assert image.size == size
    r, g, b = image.getpixel(red_pixel)  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not an image", "not an image"),
        (truncated_jpeg_bytes(), "truncated"),
        (decompression_bomb_png(), "too large"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "upload.png"
    path.write_bytes(data)
    with pytest.raises(ImageLoadError, match=rf"upload\.png.*{reason}"):
        load_image(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"nothere\.jpg: no such file"):
        load_image(tmp_path / "nothere.jpg")


def test_letterbox_keeps_aspect_and_maps_back() -> None:
    boxed = letterbox(_marked(640, 320), 320)
    assert boxed.tensor.shape == (3, 320, 320)
    assert boxed.scale == 0.5
    # the image fills the top half; the bottom half is padding
    assert int(boxed.tensor[0, 1, 1]) > 200 and int(boxed.tensor[1, 1, 1]) < 60
    assert int(boxed.tensor[0, 300, 100]) == 114


@pytest.mark.parametrize("inference", [False, True])
def test_batch_of_different_sizes(inference: bool) -> None:
    images = [_marked(300, 100), _marked(100, 500), _marked(1000, 1000)]
    with torch.inference_mode(inference):  # the batch is letterboxed by two threads
        batch, boxed = batch_images(images, 160)
    assert batch.shape == (3, 3, 160, 160)
    assert [b.scale for b in boxed] == [160 / 300, 160 / 500, 160 / 1000]
    for image, one in zip(images, boxed, strict=True):
        assert torch.equal(one.tensor, letterbox(image, 160).tensor)


@pytest.mark.parametrize(
    ("fitted", "size", "multiple", "expected"),
    [
        ([(384, 288)], 384, 0, (384, 384)),  # no multiple: the square the network learnt on
        ([(384, 288)], 384, 32, (288, 384)),  # a 640x480 photo
        ([(384, 288), (288, 384)], 384, 32, (384, 384)),  # landscape and portrait together
        ([(384, 216)], 384, 32, (224, 384)),  # 16:9
        ([(384, 256)], 384, 32, (288, 384)),  # 3:2 goes into 4:3's canvas
        ([(384, 171), (100, 20)], 384, 32, (224, 384)),  # each side holds its longest
        ([(300, 300)], 384, 32, (384, 384)),  # a small square image: no side in between
        ([(100, 75)], 100, 32, (96, 100)),  # never beyond the input side
        ([], 384, 32, (384, 384)),
    ],
)
def test_canvas_shape(
    fitted: list[tuple[int, int]], size: int, multiple: int, expected: tuple[int, int]
) -> None:
    assert canvas_shape(fitted, size, multiple) == expected


def test_a_tight_batch_holds_the_square_batch_without_its_empty_rows_and_columns() -> None:
    images = [_marked(640, 480), _marked(300, 100).convert("P")]
    square, square_boxed = batch_images(images, 160)
    tight, boxed = batch_images(images, 160, multiple=32)
    assert tight.shape == (2, 3, 128, 160)  # 160x120 and 160x53, rows rounded up to 128
    assert tight.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(tight, square[:, :, :128, :160])
    assert [(b.scale, b.width, b.height) for b in boxed] == [
        (b.scale, b.width, b.height) for b in square_boxed
    ]
    assert boxed[1].tensor.shape == (3, 128, 160)
    assert (square[:, :, 128:] == 114).all()  # what the tight canvas leaves out is padding


@pytest.mark.parametrize("size", [(640, 480), (300, 100), (100, 500), (257, 259), (384, 200)])
def test_letterbox_pixels_equal_pillow_bilinear(size: tuple[int, int]) -> None:
    # Training data went through Pillow's BILINEAR resize; inference must see the same
    # pixels (at most one level of rounding apart, in under 1 % of the values).
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    boxed = letterbox(image, 384)
    new_w, new_h = round(size[0] * boxed.scale), round(size[1] * boxed.scale)
    expected = np.asarray(
        image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=None)
    )
    got = boxed.tensor.permute(1, 2, 0).numpy()
    diff = np.abs(got[:new_h, :new_w].astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert (got[new_h:] == 114).all() and (got[:, new_w:] == 114).all()


def test_batch_is_channels_last_and_normalised_in_place_safely() -> None:
    batch, _ = batch_images([_marked(300, 100), Image.new("L", (50, 80), 128)], 64)
    assert batch.dtype == torch.uint8
    assert batch.is_contiguous(memory_format=torch.channels_last)
    before = batch.clone()
    floats = normalise(batch)
    assert torch.equal(batch, before)  # the uint8 batch is not touched
    assert floats.is_contiguous(memory_format=torch.channels_last)
    assert float(floats[1, 0, 10, 10]) == pytest.approx((128 / 255 - 0.5) / 0.25, abs=1e-5)
    assert float(floats[0, 0, 63, 63]) == pytest.approx((114 / 255 - 0.5) / 0.25, abs=1e-5)


def _uploaded_in_child(queue: multiprocessing.Queue[Any]) -> None:
    image = Image.new("RGB", (50, 30), (10, 20, 30))
    uploaded = upload_images([image, image.copy()], torch.device("cpu"))  # two threads
    # only the copy: torch's OpenMP threads do not survive a fork either, and the parent's
    # main thread (the other tests') may have used them
    members, pixels = uploaded.groups[0]
    queue.put([members, pixels[:, 0, 0, :3].tolist()])


def test_copy_threads_start_afresh_in_a_forked_worker() -> None:
    """A Celery or DataLoader worker is forked from a process that may already have
    copied a batch's pixels; the copy threads do not survive the fork, so the child
    makes its own."""
    upload_images([Image.new("RGB", (20, 20)), Image.new("RGB", (20, 20))], torch.device("cpu"))
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[Any] = context.Queue()
    child = context.Process(target=_uploaded_in_child, args=(queue,), daemon=True)
    child.start()
    try:
        pixels = queue.get(timeout=60)  # a child waiting on inherited threads never answers
        child.join(timeout=60)
    finally:
        child.kill()
    assert child.exitcode == 0
    assert pixels == [[0, 1], [[10, 20, 30], [10, 20, 30]]]


@pytest.mark.parametrize(
    ("size", "fmt", "fit", "reduction", "decoded"),
    [
        ((2000, 1200), "JPEG", 384, 4, (500, 300)),  # 1/8 would be 250 < 384
        ((4000, 3000), "JPEG", 384, 8, (500, 375)),
        ((700, 500), "JPEG", 384, 1, (700, 500)),  # not twice the input: full size
        ((2000, 1200), "JPEG", 0, 1, (2000, 1200)),  # no fit asked
        ((2000, 1200), "PNG", 384, 1, (2000, 1200)),  # only JPEG scales while decoding
    ],
)
def test_large_jpegs_are_decoded_at_a_reduced_scale(
    size: tuple[int, int], fmt: str, fit: int, reduction: int, decoded: tuple[int, int]
) -> None:
    data = _saved(Image.new("RGB", size, (200, 30, 30)), fmt)
    result = decode_image(data, fit=fit)
    assert (result.width, result.height, result.reduction) == (*size, reduction)
    assert result.image.size == decoded and result.image.mode == "RGB"
    boxed = letterbox(result, 160)  # boxes map back to the full image
    assert (boxed.width, boxed.height) == size
    assert boxed.scale == pytest.approx(160 / max(size))


def test_a_reduced_rotated_jpeg_reports_its_upright_full_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _saved(Image.new("RGB", (2000, 1200), "white"), "JPEG", exif=exif.tobytes())
    result = decode_image(data, fit=384)
    assert (result.width, result.height, result.reduction) == (1200, 2000, 4)
    assert result.image.size == (300, 500)


def test_a_truncated_large_jpeg_is_refused_even_when_decoded_small() -> None:
    data = _saved(Image.effect_noise((2000, 1200), 60).convert("RGB"), "JPEG")
    with pytest.raises(ImageLoadError, match="truncated"):
        decode_image(data[: len(data) // 2], fit=384)


def test_a_rotated_png_reports_the_size_of_its_upright_pixels() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _saved(Image.new("RGB", (900, 800), "white"), "PNG", exif=exif.tobytes())
    result = decode_image(data, fit=384)  # only JPEG decodes reduced
    assert result.reduction == 1
    assert (result.width, result.height) == result.image.size == (800, 900)


def test_letterbox_on_a_device_matches_the_cpu() -> None:
    """The GPU path (pinned uint8 upload, resize there) run on the CPU: same scales, the
    same pixels within one level, also for same-sized images that are not neighbours and
    for images Pillow cannot export in one block."""
    images: list[Image.Image] = [
        _marked(640, 480),
        _marked(100, 500),
        _marked(640, 480).convert("P", palette=Image.Palette.ADAPTIVE),
        _marked(160, 120).convert("L"),
        _marked(640, 480),
        _marked(2200, 2000),  # over Pillow's memory block: copied through numpy.asarray
    ]
    expected, boxed = batch_images(images, 160)
    uploaded = upload_images(images, torch.device("cpu"))
    assert [members for members, _ in uploaded.groups] == [[0, 2, 4], [1], [3], [5]]
    got, got_boxed = letterbox_uploaded(uploaded, 160)
    assert [b.scale for b in got_boxed] == [b.scale for b in boxed]
    assert [(b.width, b.height) for b in got_boxed] == [(b.width, b.height) for b in boxed]
    diff = (got.int() - expected.int()).abs()
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 0.01
    assert torch.equal(got[3], expected[3])  # not resized: exact
    tight, _ = letterbox_uploaded(upload_images(images[:1], torch.device("cpu")), 160, multiple=32)
    assert tight.shape == (1, 3, 128, 160)
    assert torch.equal(tight, got[:1, :, :128, :160])
