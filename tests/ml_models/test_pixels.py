"""Copying RGB pixels straight out of Pillow's memory (the GPU's pinned batches)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ml_models.inference.pixels import copy_rgbx, pack_rgb


def test_rgb_pixels_come_out_as_pillow_holds_them() -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    target = np.zeros((37, 53, 4), dtype=np.uint8)
    assert copy_rgbx(Image.fromarray(pixels), target)
    assert np.array_equal(target[..., :3], pixels)


def test_what_cannot_be_exported_in_one_block_is_left_to_the_caller() -> None:
    target = np.zeros((20, 30, 4), dtype=np.uint8)
    assert not copy_rgbx(Image.new("L", (30, 20)), target)  # not RGB
    assert not copy_rgbx(Image.new("RGB", (20, 30)), target)  # wrong shape
    assert not copy_rgbx(Image.new("RGB", (30, 20)), target[:, ::-1])  # not contiguous
    assert not target.any()
    # larger than Pillow's 16 MiB memory block: spread over several blocks
    big = Image.new("RGB", (2200, 2000), (1, 2, 3))
    assert not copy_rgbx(big, np.zeros((2000, 2200, 4), dtype=np.uint8))


def test_four_bytes_per_pixel_pack_into_three() -> None:
    rng = np.random.default_rng(4)
    block = rng.integers(0, 256, (29, 41, 4), dtype=np.uint8)
    canvas = np.full((40, 50, 3), 7, dtype=np.uint8)
    pack_rgb(block, canvas[:29, :41])  # rows of the target are strided
    assert np.array_equal(canvas[:29, :41], block[..., :3])
    assert (canvas[29:] == 7).all() and (canvas[:, 41:] == 7).all()
    strided = np.zeros((29, 41, 3), dtype=np.uint8)
    pack_rgb(block[:, ::-1], strided)  # not one block: copied slice by slice
    assert np.array_equal(strided, block[:, ::-1, :3])
