"""Decoding an opened image upright, a large JPEG at a reduced scale (torch-free: the web
process validates uploads with it)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

EXIF_ORIENTATION = 0x0112
TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class DecodedImage:
    """``image`` upright at 1/``reduction`` of its full size; ``width`` x ``height`` is the
    full upright size, in whose pixels boxes are reported."""

    image: Image.Image
    width: int
    height: int
    reduction: int = 1


def decode_upright(opened: Image.Image, *, at_least: tuple[int, int] | None = None) -> DecodedImage:
    """Decode ``opened`` and apply its EXIF orientation. With ``at_least`` (in stored
    orientation) a JPEG is decoded by libjpeg's DCT scaling at 1/2, 1/4 or 1/8 of its
    size, never below ``at_least`` in either direction. The whole stream is decoded all
    the same, so truncated or corrupt data raises ``OSError`` here as it would in full."""
    width, height = opened.size
    reduction = 1
    if at_least is not None and opened.format == "JPEG":
        drafted = opened.draft(None, at_least)
        if drafted is not None:
            reduction = max(1, round(width / drafted[1][2]))
    # a JPEG's EXIF precedes its pixels, and the transpose below removes the orientation
    turned = opened.getexif().get(EXIF_ORIENTATION) in TRANSPOSING_ORIENTATIONS
    opened.load()
    ImageOps.exif_transpose(opened, in_place=True)  # upright, without a copy
    if reduction == 1:  # a PNG's EXIF may follow its pixels: trust the decoded size
        width, height = opened.size
    elif turned:
        width, height = height, width
    return DecodedImage(image=opened, width=width, height=height, reduction=reduction)
