"""Turning real uploads into model input, and model boxes back into upload pixels.

Uploads arrive in every mode Pillow knows (palette, alpha, CMYK, 16-bit, grayscale),
with EXIF orientation, in any size. ``load_image`` normalises them to an upright RGB
image; ``letterbox`` scales the long side to the model input and pads the rest, so a
batch of differently sized images becomes one tensor and boxes map back with one scale.
"""

from __future__ import annotations

import functools
import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ml_models.inference.pixels import copy_rgbx, pack_rgb
from ml_models.inference.prefetch import ThreadMap
from ml_models.inference.upright import DecodedImage, decode_upright

# Normalisation of pixel values, shared by training and inference.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
PAD_VALUE = 114

MAX_PIXELS = 50_000_000  # larger uploads are refused, not decoded
MAX_SIDE = 20_000


class ImageLoadError(ValueError):
    """An input that is not a usable image; the message names the file and the reason."""


@dataclass(frozen=True)
class Letterboxed:
    """Model input for one image and how to map its boxes back."""

    tensor: torch.Tensor  # (3, H, W) uint8: the canvas (``canvas_shape``)
    scale: float  # model pixels per image pixel
    width: int
    height: int


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited over white."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if image.mode == "F":
            top = max(float(arr.max()), 1.0)
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


# What the models take: a PIL image as it is, or one decoded at a reduced scale.
ModelInput = Image.Image | DecodedImage


def load_image(source: str | os.PathLike[str] | bytes) -> Image.Image:
    """Open, check and normalise an upload: EXIF orientation applied, RGB.

    Raises ``ImageLoadError`` for anything that is not a complete, sanely sized image.
    """
    return decode_image(source).image


def decode_image(source: str | os.PathLike[str] | bytes, *, fit: int = 0) -> DecodedImage:
    """``load_image``, and with ``fit`` (the model's input side) a JPEG at least twice as
    large is decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT scaling, never smaller
    than ``fit`` on its long side: a 4000x3000 photo takes 27 ms to decode and letterbox
    instead of 146 ms (measured on the 2-core machine). The whole file is still decoded,
    so truncated data is refused all the same.
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width <= 0 or height <= 0:
                    raise ImageLoadError(f"{name}: image has zero size")
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise ImageLoadError(
                        f"{name}: image too large ({width}x{height}; at most {MAX_PIXELS} pixels)"
                    )
                decoded = decode_upright(opened, at_least=_fit_request(width, height, fit))
                image = to_rgb(decoded.image)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{name}: image too large, refused as a decompression bomb") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{name}: not an image") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{name}: no such file") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: unreadable or truncated image ({exc})") from exc
    if image.width == 0 or image.height == 0:
        raise ImageLoadError(f"{name}: image has zero size")
    return replace(decoded, image=image)


def _fit_request(width: int, height: int, fit: int) -> tuple[int, int] | None:
    """The smallest decoded size whose long side is still ``fit`` (None: decode in full)."""
    long_side = max(width, height)
    if not fit or long_side < 2 * fit:
        return None
    return (math.ceil(fit * width / long_side), math.ceil(fit * height / long_side))


def full_size(item: ModelInput) -> tuple[int, int]:
    """Width and height of the full image, in whose pixels boxes are reported."""
    return (item.width, item.height)


def decoded_pixels(item: ModelInput) -> Image.Image:
    """The pixels the models take of ``item`` (for a ``DecodedImage``, decoded smaller)."""
    return item.image if isinstance(item, DecodedImage) else item


def _letterbox_into(image: Image.Image, canvas: torch.Tensor, size: int) -> float:
    """Resize ``image`` (long side to ``size``) into the top-left of ``canvas``.

    ``canvas`` is an (H, W, 3) uint8 view, already filled with the pad value. torch's
    antialiased bilinear resize of uint8 images reproduces Pillow's BILINEAR resize
    pixel for pixel (tested) at about twice its speed. The pixels leave Pillow as it
    keeps them, four bytes each, without the GIL (``pixels.copy_rgbx``), and are resized
    so: torch's uint8 kernel works on four channels anyway. Its input is a true
    channels_last batch of one, so it writes a channels_last result; from a permuted
    (H, W, 4) view it took the result for channels-first and converted it, which cost
    as much as the resize. The result's three colour bytes of each pixel go into the
    canvas through Pillow's packer (``pixels.pack_rgb``). On the 2-core AVX2 machine that
    took a 640x480 image from 2.5 to 0.7-1.0 ms, the same pixels.
    """
    width, height = image.size
    scale, new_w, new_h = _fitted(width, height, size)
    target = canvas[:new_h, :new_w].numpy()  # a view of the canvas: written in place
    if (new_w, new_h) == (width, height):
        target[...] = np.asarray(image)
        return scale
    block = np.empty((height, width, 4), dtype=np.uint8)
    if copy_rgbx(image, block):
        pixels = torch.from_numpy(block)  # (H, W, 4): R, G, B, padding
    else:
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W, 3)
    resized = F.interpolate(
        pixels.unsqueeze(0).permute(0, 3, 1, 2),  # channels_last: no copy
        size=(new_h, new_w),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    rows = resized[0].permute(1, 2, 0).numpy()  # (new_h, new_w, 4 or 3), contiguous
    if rows.shape[2] == 4:
        pack_rgb(rows, target)
    else:
        target[...] = rows
    return scale


def letterbox(image: ModelInput, size: int) -> Letterboxed:
    """Scale the long side to ``size`` and pad right/bottom to a square (top-left anchor)."""
    batch, boxed = batch_images([image], size)
    return Letterboxed(
        tensor=batch[0].contiguous(),
        scale=boxed[0].scale,
        width=boxed[0].width,
        height=boxed[0].height,
    )


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) to the float input the network was trained on (memory format kept)."""
    floats = batch.to(torch.float32, copy=True)
    return floats.mul_(1.0 / (255.0 * PIXEL_STD)).sub_(PIXEL_MEAN / PIXEL_STD)


# Copying decoded pixels into pinned memory for a GPU: straight from Pillow's memory,
# without the GIL (``pixels.copy_rgbx``), so the host's cores share a large batch.
_COPY_THREADS = ThreadMap(min(16, os.cpu_count() or 1), "pin-copy")


def _copy_jobs(jobs: list[tuple[Image.Image, np.ndarray]]) -> None:
    """Copy images' pixels into their (H, W, 4) slots of a pinned block (the fourth
    channel is padding): straight from Pillow's memory where it can, GIL-free."""
    for image, target in jobs:
        rgb = to_rgb(image)
        if not copy_rgbx(rgb, target):
            target[..., :3] = np.asarray(rgb)


def _fitted(width: int, height: int, size: int) -> tuple[float, int, int]:
    """Model pixels per image pixel, and the image's width and height in the model input."""
    scale = size / max(width, height)
    return scale, max(1, round(width * scale)), max(1, round(height * scale))


# The canvas sides a letterboxed image can get, as fractions of the input side: the
# short sides of 16:9 and 4:3 photos (3:2 goes into 4:3) and the full side. Few sides
# keep the canvas shapes few (five), so a GPU's batch of mixed uploads is not split
# into many small ones.
CANVAS_FRACTIONS = (9 / 16, 3 / 4, 1.0)


def canvas_sides(size: int, multiple: int) -> list[int]:
    """The allowed canvas sides, ascending: ``CANVAS_FRACTIONS`` of ``size`` rounded up
    to ``multiple`` (the network's deepest stride), at most ``size``."""
    return sorted(
        {min(size, -(-math.ceil(size * f) // multiple) * multiple) for f in CANVAS_FRACTIONS}
    )


def canvas_shape(
    fitted: Sequence[tuple[int, int]], size: int, multiple: int = 0
) -> tuple[int, int]:
    """Height and width of the canvas that holds a batch of letterboxed images.

    ``fitted`` are the images' (width, height) in the model input. With ``multiple`` 0
    the canvas is the square ``size`` x ``size`` the network was trained on. Otherwise
    each side is the smallest of ``canvas_sides`` that holds the batch's longest: a
    640x480 photo gets 384x288 instead of 384x384 (a quarter of the forward pass only
    computed padding), a 16:9 one 384x224. The network is fully convolutional; on the
    evaluation sets the smaller canvases score as the square does (docs/performance.md, "The tight
    canvas").
    """
    if not multiple or not fitted:
        return size, size
    sides = canvas_sides(size, multiple)

    def side(longest: int) -> int:
        return next((s for s in sides if s >= longest), size)

    return side(max(h for _, h in fitted)), side(max(w for w, _ in fitted))


def image_canvas(item: ModelInput, size: int, multiple: int = 0) -> tuple[int, int]:
    """The canvas (height, width) that ``item`` alone letterboxes to (``canvas_shape``)."""
    image = decoded_pixels(item)
    return canvas_shape([_fitted(image.width, image.height, size)[1:]], size, multiple)


def canvas_groups(
    images: Sequence[ModelInput], rules: Sequence[tuple[int, int]]
) -> list[list[int]]:
    """Indices of ``images`` grouped by the canvases each letterboxes to alone under every
    (input side, multiple) rule (``image_canvas``), groups in order of first appearance:
    a batch of one group gives each image what it gets alone."""
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for index, image in enumerate(images):
        key = tuple(image_canvas(image, size, multiple) for size, multiple in rules)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


@dataclass
class UploadedBatch:
    """A batch's pixels copied to a device (``upload_images``), not yet letterboxed:
    each group of same-sized images as one uint8 (N, H, W, 4) block, and their places
    in the batch."""

    items: list[ModelInput]
    groups: list[tuple[list[int], torch.Tensor]]


def upload_images(images: Sequence[ModelInput], device: torch.device) -> UploadedBatch:
    """Copy a batch's pixels to ``device`` (a GPU), unresized: each group of same-sized
    images goes over as one pinned uint8 block, four bytes per pixel as Pillow keeps them
    (``pixels.copy_rgbx``). The copy threads each take an equal share of the images (one
    task per thread: a task per image cost more in thread hand-offs than the copy). On
    CUDA the transfers are queued on the current stream and return at once.
    """
    items = list(images)
    pixels = [decoded_pixels(item) for item in items]
    on_cuda = device.type == "cuda"
    members_of: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(pixels):
        members_of.setdefault(image.size, []).append(i)
    groups = []
    for (width, height), members in members_of.items():
        host = torch.empty((len(members), height, width, 4), dtype=torch.uint8, pin_memory=on_cuda)
        targets = host.numpy()
        jobs = [(pixels[i], targets[j]) for j, i in enumerate(members)]
        shares = min(len(jobs), _COPY_THREADS.workers)
        _COPY_THREADS.map(_copy_jobs, [jobs[k::shares] for k in range(shares)])
        groups.append((members, host.to(device, non_blocking=on_cuda)))
    return UploadedBatch(items=items, groups=groups)


@functools.lru_cache(maxsize=64)
def _resize_weights(source: int, target: int, device: torch.device) -> torch.Tensor:
    """(source, target) weights of the antialiased bilinear resize along one axis, read
    off by resizing the identity (so they are torch's own), in half precision on CUDA."""
    identity = torch.eye(source, dtype=torch.float64).view(1, 1, source, source)
    weights = F.interpolate(
        identity, size=(source, target), mode="bilinear", align_corners=False, antialias=True
    )[0, 0]
    return weights.to(device, torch.float16 if device.type == "cuda" else torch.float32)


def _resize_block(block: torch.Tensor, new_h: int, new_w: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) images resized with the CPU path's antialiased bilinear filter,
    rounded back to uint8 (within one level of the CPU's pixels, tested).

    The filter is separable, so it runs as two matrix products over all images at once,
    in fp16 on a GPU (pixel values are exact there; the weights carry 11 bits): 2.9 ms
    for 512 images of 640x480 on an H200, against 8.3 ms for ``F.interpolate``.
    """
    count, channels, height, width = block.shape
    dtype = torch.float16 if block.device.type == "cuda" else torch.float32
    planes = block.to(dtype, memory_format=torch.contiguous_format)
    across = planes.view(-1, width) @ _resize_weights(width, new_w, block.device)
    down = _resize_weights(height, new_h, block.device).T @ across.view(-1, height, new_w)
    resized = down.view(count, channels, new_h, new_w)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def letterbox_uploaded(
    uploaded: UploadedBatch, size: int, *, multiple: int = 0
) -> tuple[torch.Tensor, list[Letterboxed]]:
    """``batch_images`` of an uploaded batch, on its device: each group is resized there
    into its rows of the batch (on the current stream, behind the upload)."""
    device = uploaded.groups[0][1].device if uploaded.groups else torch.device("cpu")
    fits = {
        (pixels.shape[2], pixels.shape[1]): _fitted(pixels.shape[2], pixels.shape[1], size)
        for _, pixels in uploaded.groups
    }
    canvas_h, canvas_w = canvas_shape([(w, h) for _, w, h in fits.values()], size, multiple)
    canvas = torch.full(
        (len(uploaded.items), canvas_h, canvas_w, 3), PAD_VALUE, dtype=torch.uint8, device=device
    )
    scales = [0.0] * len(uploaded.items)
    for members, pixels in uploaded.groups:
        _, height, width, _ = pixels.shape
        scale, new_w, new_h = fits[(width, height)]
        block = pixels.permute(0, 3, 1, 2)[:, :3]
        if (new_w, new_h) != (width, height):
            block = _resize_block(block, new_h, new_w)
        rows: slice | torch.Tensor = (
            slice(members[0], members[-1] + 1)
            if members == list(range(members[0], members[-1] + 1))
            else torch.tensor(members, device=device)
        )
        canvas[rows, :new_h, :new_w] = block.permute(0, 2, 3, 1)
        for i in members:
            scales[i] = scale
    return canvas.permute(0, 3, 1, 2), _boxed(uploaded.items, canvas, scales)


def _boxed(
    images: Sequence[ModelInput], canvas: torch.Tensor, scales: Sequence[float]
) -> list[Letterboxed]:
    """Each image's view of the (B, H, W, 3) ``canvas`` and how its boxes map back."""
    boxed: list[Letterboxed] = []
    for i, (item, scale) in enumerate(zip(images, scales, strict=True)):
        reduction = item.reduction if isinstance(item, DecodedImage) else 1
        width, height = full_size(item)
        boxed.append(
            Letterboxed(
                tensor=canvas[i].permute(2, 0, 1),
                scale=scale / reduction,
                width=width,
                height=height,
            )
        )
    return boxed


def batch_images(
    images: Sequence[ModelInput],
    size: int,
    device: torch.device | None = None,
    *,
    multiple: int = 0,
) -> tuple[torch.Tensor, list[Letterboxed]]:
    """Letterbox differently sized images into one uint8 (B, 3, H, W) channels_last batch,
    on the CPU or, where ``device`` is given, on that device (a GPU resizes there:
    ``upload_images`` and ``letterbox_uploaded``).

    The canvas is ``size`` x ``size``, or with ``multiple`` only as large as the batch's
    images need (``canvas_shape``). Each ``Letterboxed.tensor`` is a view of its image in
    the batch (no copy); its ``scale`` and size refer to the full image, also for a
    ``DecodedImage`` decoded smaller.
    """
    device = device or torch.device("cpu")
    if device.type != "cpu":
        return letterbox_uploaded(upload_images(images, device), size, multiple=multiple)
    pixels = [decoded_pixels(item) for item in images]
    fits = [_fitted(image.width, image.height, size)[1:] for image in pixels]
    height, width = canvas_shape(fits, size, multiple)
    canvas = torch.full((len(images), height, width, 3), PAD_VALUE, dtype=torch.uint8)
    # one image after another: torch's resize runs on the intra-op threads already, and
    # two letterbox threads, each with its own, were slower on the 2-core machine (9.1-9.8
    # against 7.8-8.5 ms for 8 images of 640x480, three alternating runs)
    scales = [
        _letterbox_into(to_rgb(image), slot, size)
        for image, slot in zip(pixels, canvas.unbind(0), strict=True)
    ]
    return canvas.permute(0, 3, 1, 2), _boxed(images, canvas, scales)
