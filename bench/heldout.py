"""Held-out benchmark images drawn by an independent renderer (a script, not a test).

    .venv/bin/python bench/heldout.py [--count 300] [--seed 2027] [--out var/heldout]

The models are trained on images from the project's own generator, which draws with
Pillow's ``ImageDraw``. Scores measured on more images from that generator can hide an
overfit to its quirks (its rasteriser, its size and colour distributions, its way of
building each composition). This script draws a second, independent set *within
SPEC.md* (``../shared/SPEC.md``): it imports nothing from ``ml_models`` and shares no code or
parameters with the training generator. Differences on purpose:

* shapes are rasterised by matplotlib's Agg backend (antialiased patches: ``Circle``,
  ``Ellipse``, ``Rectangle``, ``RegularPolygon``, ``Polygon``, a ``PathPatch`` star),
  outlines 2-5 px converted to points for the figure's dpi, and composited over the
  background with their coverage as alpha; backgrounds, noise and colours are numpy;
* every size, ratio, angle and composition layout is sampled here from SPEC's own
  definitions (ellipse axis ratio >= 1.5, triangle angles >= 25 deg, rectangle ratio
  >= 1.5, regular pentagon/hexagon, five-pointed star with inner/outer radius 0.35-0.55,
  extents 12 px to 60 % of the shorter side, compositions tilted at most 10 deg, 0-3
  distractors that do not touch the composition);
* each shape's colour is chosen to contrast with the pixels already under it;
* ground truth is the tight box of each shape's *own* pixels (coverage above
  ``ALPHA_THRESHOLD``), measured by rendering the shape alone on the same canvas, so a
  part covered by a later one keeps the box of its full outline.

Output under ``--out``: ``images/NNNNN.jpg``, ``annotations.json`` (COCO detection, the
eight classes as categories 1-8) and ``scenes/<scene>/NNNNN.jpg`` (the same files, one
folder per scene label). Evaluate the active models on it with::

    python manage.py evaluate --coco var/heldout/annotations.json --images var/heldout/images
    python manage.py evaluate --folders var/heldout/scenes
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse, Patch, PathPatch, Polygon, Rectangle, RegularPolygon
from matplotlib.path import Path as MplPath
from numpy.typing import NDArray
from PIL import Image, ImageFilter

matplotlib.use("Agg")

CLASSES = ("circle", "ellipse", "triangle", "square", "rectangle", "pentagon", "hexagon", "star")
SCENES = ("house", "snowman", "traffic_light", "car", "tree", "flower", "random")

DPI = 100
ALPHA_THRESHOLD = 0.1  # coverage above which a pixel counts as drawn, for the boxes
MIN_EXTENT = 12.0
MAX_EXTENT = 0.6  # of the shorter image side
MARGIN = 3.0  # px kept clear at the image border
GAP = 6.0  # px of clear space around distractors and scattered primitives
CONTRAST = 110.0  # RGB distance a colour keeps from 90 % of the pixels behind it

FloatArray = NDArray[np.float64]
Box = tuple[float, float, float, float]
Rng = np.random.Generator


@dataclass(frozen=True, kw_only=True)
class Shape:  # pylint: disable=too-many-instance-attributes  # a plain record
    """One primitive in pixel coordinates (x right, y down).

    ``size``: radius (circle), semi-major axis (ellipse), half side (square), half long
    side (rectangle), circumradius (pentagon, hexagon, star). ``ratio``: minor/major
    (ellipse), short/long (rectangle), inner/outer radius (star). A triangle is given by
    ``tri``, its vertices relative to the centre. ``angle`` (degrees) rotates all of it.
    """

    kind: str
    cx: float = 0.0
    cy: float = 0.0
    size: float = 1.0
    ratio: float = 1.0
    angle: float = 0.0
    tri: tuple[tuple[float, float], ...] = ()
    width: float = 0.0  # outline width in px; 0 = filled
    group: int = -1  # parts with the same group >= 0 share one colour
    hint: tuple[float, float, float] | None = None  # preferred colour


# ---------------------------------------------------------------- geometry


def _rotate(points: FloatArray, degrees: float) -> FloatArray:
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return np.asarray(points @ np.array([[c, s], [-s, c]]), dtype=np.float64)


def _ring(count: int, start: float) -> FloatArray:
    t = start + 2.0 * math.pi * np.arange(count) / count
    return np.stack([np.cos(t), np.sin(t)], axis=1).astype(np.float64)


def _star_unit(shape: Shape) -> FloatArray:
    radii = np.where(np.arange(10) % 2 == 0, 1.0, shape.ratio)
    return np.asarray(shape.size * _ring(10, -math.pi / 2) * radii[:, None], dtype=np.float64)


def _ellipse_unit(shape: Shape) -> FloatArray:
    return _ring(96, 0.0) * np.array([shape.size, shape.size * shape.ratio], dtype=np.float64)


def _box_unit(shape: Shape) -> FloatArray:
    corners = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    return corners * np.array([shape.size, shape.size * shape.ratio], dtype=np.float64)


UNIT_POINTS: dict[str, Callable[[Shape], FloatArray]] = {
    "circle": lambda s: s.size * _ring(96, 0.0),
    "ellipse": _ellipse_unit,
    "triangle": lambda s: np.array(s.tri, dtype=np.float64),
    "square": _box_unit,
    "rectangle": _box_unit,
    # matplotlib's RegularPolygon puts its first vertex at +90 degrees
    "pentagon": lambda s: s.size * _ring(5, math.pi / 2),
    "hexagon": lambda s: s.size * _ring(6, math.pi / 2),
    "star": _star_unit,
}


def outline(shape: Shape) -> FloatArray:
    """The shape's outline (vertices, or a dense polygon for round shapes) in pixels."""
    centre = np.array([shape.cx, shape.cy], dtype=np.float64)
    return _rotate(UNIT_POINTS[shape.kind](shape), shape.angle) + centre


def geo_box(shape: Shape) -> Box:
    """A box that surely holds the drawn pixels (stroke and joins included)."""
    points = outline(shape)
    pad = shape.width + 1.0 if shape.width else 1.0
    x1, y1 = points.min(axis=0) - pad
    x2, y2 = points.max(axis=0) + pad
    return float(x1), float(y1), float(x2), float(y2)


def extent(shape: Shape) -> float:
    x1, y1, x2, y2 = geo_box(shape)
    return max(x2 - x1, y2 - y1) - 2.0  # the +1 px safety pad on each side


def min_angle(points: FloatArray) -> float:
    """Smallest interior angle (degrees) of a triangle."""
    angles = []
    for i in range(3):
        u = points[(i + 1) % 3] - points[i]
        v = points[(i + 2) % 3] - points[i]
        cos = float(u @ v) / (float(np.linalg.norm(u)) * float(np.linalg.norm(v)))
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return min(angles)


def valid(shape: Shape) -> bool:
    """SPEC's class definition holds (plus a visible thickness for thin shapes)."""
    if shape.kind in {"ellipse", "rectangle"}:
        return shape.ratio <= 1 / 1.5 + 1e-9 and 2 * shape.size * shape.ratio >= 3.0
    if shape.kind == "star":
        return 0.35 <= shape.ratio <= 0.55
    if shape.kind == "triangle":
        return min_angle(np.array(shape.tri, dtype=np.float64)) >= 25.0
    return shape.size > 0


def moved(shape: Shape, dx: float, dy: float) -> Shape:
    return replace(shape, cx=shape.cx + dx, cy=shape.cy + dy)


def tilted(shape: Shape, degrees: float, ox: float, oy: float) -> Shape:
    """The shape turned by ``degrees`` about the point (ox, oy)."""
    centre = _rotate(np.array([[shape.cx - ox, shape.cy - oy]]), degrees)[0]
    return replace(
        shape, cx=float(centre[0]) + ox, cy=float(centre[1]) + oy, angle=shape.angle + degrees
    )


def union_box(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def overlaps(a: Box, b: Box, gap: float) -> bool:
    return not (
        a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]
    )


# ---------------------------------------------------------------- primitives


def rect(cx: float, cy: float, w: float, h: float) -> Shape:
    """An upright square (w == h) or rectangle centred at (cx, cy)."""
    if math.isclose(w, h):
        return Shape(kind="square", cx=cx, cy=cy, size=w / 2)
    if w >= h:
        return Shape(kind="rectangle", cx=cx, cy=cy, size=w / 2, ratio=h / w)
    return Shape(kind="rectangle", cx=cx, cy=cy, size=h / 2, ratio=w / h, angle=90.0)


def circle(cx: float, cy: float, r: float, hint: tuple[float, float, float] | None = None) -> Shape:
    return Shape(kind="circle", cx=cx, cy=cy, size=r, hint=hint)


def triangle(vertices: Sequence[tuple[float, float]]) -> Shape:
    """A triangle from absolute vertices, centred on its centroid."""
    points = np.array(vertices, dtype=np.float64)
    cx, cy = points.mean(axis=0)
    tri = tuple((float(x - cx), float(y - cy)) for x, y in points)
    return Shape(kind="triangle", cx=float(cx), cy=float(cy), tri=tri)


def upright_triangle(rng: Rng, base_y: float, base: float, base_angle: float) -> Shape:
    """Apex-up triangle on the horizontal segment of width ``base`` centred at x = 0."""
    height = base / 2 * math.tan(math.radians(base_angle))
    apex_x = rng.uniform(-0.06, 0.06) * base
    return triangle([(-base / 2, base_y), (base / 2, base_y), (apex_x, base_y - height)])


def _random_triangle(rng: Rng) -> tuple[tuple[float, float], ...]:
    """Unit-circumradius triangle with every angle >= 25 deg (inscribed-angle theorem)."""
    a, _, c = 25.0 + 105.0 * rng.dirichlet([2.0, 2.0, 2.0])
    phases = np.radians([0.0, 2 * c, 2 * c + 2 * a])
    return tuple((math.cos(p), math.sin(p)) for p in phases)


def random_primitive(rng: Rng, kind: str, target: float) -> Shape:
    """A primitive of ``kind`` at the origin, any rotation, about ``target`` px across."""
    ratio = {
        "ellipse": 1 / rng.uniform(1.5, 3.5),
        "rectangle": 1 / rng.uniform(1.5, 6.0),
        "star": rng.uniform(0.35, 0.55),
    }.get(kind, 1.0)
    tri = _random_triangle(rng) if kind == "triangle" else ()
    shape = Shape(kind=kind, ratio=ratio, tri=tri, angle=rng.uniform(0.0, 360.0))
    points = outline(shape)
    across = float((points.max(axis=0) - points.min(axis=0)).max())
    k = target / across
    shape = replace(shape, size=k, tri=tuple((x * k, y * k) for x, y in tri))
    if kind in {"ellipse", "rectangle"}:  # keep thin bars at least 3 px thick
        shape = replace(shape, ratio=min(1 / 1.5, max(shape.ratio, 1.5 / shape.size)))
    return replace(shape, width=outline_width(rng))


def outline_width(rng: Rng) -> float:
    """0 (filled, 60 %) or an outline 2-5 px wide."""
    return 0.0 if rng.random() < 0.6 else float(rng.uniform(2.0, 5.0))


# ---------------------------------------------------------------- compositions
# Builders draw upright around the origin; ``s`` is the rough size of the whole.


def build_house(rng: Rng, s: float) -> list[Shape]:
    bw = s * rng.uniform(0.55, 0.8)
    bh = {0: bw, 1: bw / rng.uniform(1.5, 2.2), 2: bw * rng.uniform(1.5, 1.8)}[
        int(rng.choice(3, p=[0.35, 0.5, 0.15]))
    ]
    parts = [rect(0.0, 0.0, bw, bh)]
    parts.append(upright_triangle(rng, -bh / 2, bw * rng.uniform(1.0, 1.2), rng.uniform(28, 55)))
    door: Box | None = None
    if rng.random() < 0.65:
        dw = bw * rng.uniform(0.16, 0.26)
        dh = min(bh * 0.75, max(dw * 1.6, bh * rng.uniform(0.4, 0.65)))
        dx = rng.uniform(-0.5, 0.5) * (bw - dw) * 0.7
        inset = max(2.0, 0.04 * bh)
        door = (dx - dw / 2, bh / 2 - inset - dh, dx + dw / 2, bh / 2 - inset)
        parts.append(rect(dx, bh / 2 - inset - dh / 2, dw, dh))
    if rng.random() < 0.7:
        side = min(bw, bh) * rng.uniform(0.16, 0.26)
        wy = -bh / 2 + bh * rng.uniform(0.12, 0.2) + side / 2
        spots = [-bw * 0.27, bw * 0.27] if rng.random() < 0.6 else [rng.choice([-1, 1]) * bw * 0.27]
        for wx in spots:
            box = (wx - side / 2, wy - side / 2, wx + side / 2, wy + side / 2)
            if door is None or not overlaps(box, door, 2.0):
                parts.append(rect(wx, wy, side, side))
    return parts


def build_snowman(rng: Rng, s: float) -> list[Shape]:
    r = s * rng.uniform(0.2, 0.27)
    parts = [circle(0.0, 0.0, r)]
    y = 0.0
    for _ in range(int(rng.integers(1, 3))):
        upper = r * rng.uniform(0.6, 0.85)
        y -= (r + upper) * rng.uniform(0.85, 1.0)
        parts.append(circle(upper * rng.uniform(-0.06, 0.06), y, upper))
        r = upper
    return parts


def build_traffic_light(rng: Rng, s: float) -> list[Shape]:
    h = s * rng.uniform(0.8, 1.0)
    w = h / rng.uniform(2.6, 3.4)
    r = min(w * rng.uniform(0.28, 0.4), h / 6 * 0.85)
    lamps = ((220.0, 30.0, 30.0), (245.0, 190.0, 20.0), (30.0, 190.0, 60.0))
    parts = [rect(0.0, 0.0, w, h)]
    parts += [circle(0.0, k * h / 3, r, hint=lamps[k + 1]) for k in (-1, 0, 1)]
    return parts


def build_car(rng: Rng, s: float) -> list[Shape]:
    w = s * rng.uniform(0.75, 1.0)
    h = w / rng.uniform(2.0, 3.4)
    parts = [rect(0.0, 0.0, w, h)]
    if rng.random() < 0.6:
        cw = w * rng.uniform(0.4, 0.6)
        ch = cw / rng.uniform(1.6, 2.6)
        cx = rng.uniform(-0.5, 0.5) * (w - cw) * 0.6
        parts.append(rect(cx, -h / 2 - ch / 2, cw, ch))
    r = h * rng.uniform(0.38, 0.6)
    inset = w * rng.uniform(0.14, 0.24)
    parts += [circle(x, h / 2, r) for x in (-w / 2 + inset, w / 2 - inset)]
    return parts


def build_tree(rng: Rng, s: float) -> list[Shape]:
    crown = s * rng.uniform(0.55, 0.75)
    tw = crown * rng.uniform(0.12, 0.22)
    th = max(2.2 * tw, crown * rng.uniform(0.35, 0.7))
    parts = [rect(0.0, -th / 2, tw, th)]
    if rng.random() < 0.5:
        r = crown / 2
        parts.append(circle(0.0, -th - r * rng.uniform(0.75, 0.95), r))
    else:
        base_y = -th + th * rng.uniform(0.0, 0.15)
        parts.append(upright_triangle(rng, base_y, crown, rng.uniform(50, 70)))
    return parts


def build_flower(rng: Rng, s: float) -> list[Shape]:
    rc = s * rng.uniform(0.08, 0.14)
    a = s * rng.uniform(0.13, 0.2)
    ratio = 1 / rng.uniform(1.6, 2.6)
    count = int(rng.integers(5, 9))
    phase = rng.uniform(0.0, 360.0)
    distance = rc + a * rng.uniform(0.55, 0.9)
    parts: list[Shape] = []
    if rng.random() < 0.5:
        # from under the centre to well below the petals, so most of it stays visible
        top = rc / 2
        length = distance + a - top + s * rng.uniform(0.25, 0.55)
        stem = max(3.0, s * rng.uniform(0.025, 0.05))
        parts.append(rect(0.0, top + length / 2, stem, length))
    width = outline_width(rng)
    for k in range(count):
        theta = phase + 360.0 * k / count
        cx, cy = distance * math.cos(math.radians(theta)), distance * math.sin(math.radians(theta))
        parts.append(
            Shape(
                kind="ellipse", cx=cx, cy=cy, size=a, ratio=ratio, angle=theta, width=width, group=1
            )
        )
    parts.append(circle(0.0, 0.0, rc))
    return parts


BUILDERS: dict[str, Callable[[Rng, float], list[Shape]]] = {
    "house": build_house,
    "snowman": build_snowman,
    "traffic_light": build_traffic_light,
    "car": build_car,
    "tree": build_tree,
    "flower": build_flower,
}


def styled(rng: Rng, parts: list[Shape]) -> list[Shape]:
    """Give each part without a group its own fill/outline choice."""
    return [p if p.group >= 0 else replace(p, width=outline_width(rng)) for p in parts]


def composition(rng: Rng, scene: str, width: int, height: int) -> list[Shape]:
    """The scene's parts, tilted by at most 10 degrees, placed inside the image."""
    short = min(width, height)
    scale = short * rng.uniform(0.4, 0.95)
    for _ in range(200):
        parts = styled(rng, BUILDERS[scene](rng, scale))
        x1, y1, x2, y2 = union_box([geo_box(p) for p in parts])
        tilt = rng.uniform(-10.0, 10.0)
        parts = [tilted(p, tilt, (x1 + x2) / 2, (y1 + y2) / 2) for p in parts]
        x1, y1, x2, y2 = union_box([geo_box(p) for p in parts])
        sizes = [extent(p) for p in parts]
        too_wide = x2 - x1 > width - 2 * MARGIN or y2 - y1 > height - 2 * MARGIN
        if too_wide or max(sizes) > MAX_EXTENT * short:
            scale *= 0.9
        elif min(sizes) < MIN_EXTENT:
            scale *= 1.1
        elif all(valid(p) for p in parts):
            dx = rng.uniform(MARGIN - x1, width - MARGIN - x2)
            dy = rng.uniform(MARGIN - y1, height - MARGIN - y2)
            return [moved(p, dx, dy) for p in parts]
    raise RuntimeError(f"could not fit a {scene} into {width}x{height}")


def place(rng: Rng, size: tuple[int, int], taken: list[Box], cap: float) -> Shape | None:
    """A random primitive whose box keeps GAP px from every box in ``taken``."""
    width, height = size
    kind = str(rng.choice(CLASSES))
    target = math.exp(rng.uniform(math.log(MIN_EXTENT), math.log(max(cap, MIN_EXTENT + 1))))
    for attempt in range(60):
        if attempt % 12 == 11:
            target = max(MIN_EXTENT, target * 0.75)
        shape = random_primitive(rng, kind, target)
        x1, y1, x2, y2 = geo_box(shape)
        lo_x, hi_x = MARGIN - x1, width - MARGIN - x2
        lo_y, hi_y = MARGIN - y1, height - MARGIN - y2
        if lo_x > hi_x or lo_y > hi_y or not valid(shape) or extent(shape) < MIN_EXTENT:
            continue
        shape = moved(shape, rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y))
        box = geo_box(shape)
        if not any(overlaps(box, other, GAP) for other in taken):
            taken.append(box)
            return shape
    return None


def layout(rng: Rng, scene: str, width: int, height: int) -> list[Shape]:
    """All shapes of one image in drawing order: composition, then distractors."""
    short = min(width, height)
    if scene == "random":
        count = int(rng.integers(3, 9))
        cap = short * min(MAX_EXTENT, 1.0 / math.sqrt(count))
        shapes: list[Shape] = []
        taken: list[Box] = []
        while len(shapes) < count:
            shape = place(rng, (width, height), taken, cap)
            if shape is not None:
                shapes.append(shape)
            elif len(shapes) >= 3:
                break
        return shapes
    parts = composition(rng, scene, width, height)
    taken = [union_box([geo_box(p) for p in parts])]
    for _ in range(int(rng.integers(0, 4))):
        shape = place(rng, (width, height), taken, short * 0.25)
        if shape is not None:
            parts.append(shape)
    return parts


# ---------------------------------------------------------------- rendering


def make_patch(shape: Shape) -> Patch:
    """The matplotlib patch of ``shape`` in black (only its coverage is used)."""
    centre = (shape.cx, shape.cy)
    patch: Patch
    if shape.kind == "circle":
        patch = Circle(centre, radius=shape.size)
    elif shape.kind == "ellipse":
        patch = Ellipse(centre, 2 * shape.size, 2 * shape.size * shape.ratio, angle=shape.angle)
    elif shape.kind in {"square", "rectangle"}:
        hw, hh = shape.size, shape.size * shape.ratio
        corner = (shape.cx - hw, shape.cy - hh)
        patch = Rectangle(corner, 2 * hw, 2 * hh, angle=shape.angle, rotation_point="center")
    elif shape.kind in {"pentagon", "hexagon"}:
        sides = 5 if shape.kind == "pentagon" else 6
        patch = RegularPolygon(
            centre, numVertices=sides, radius=shape.size, orientation=math.radians(shape.angle)
        )
    elif shape.kind == "star":
        points = outline(shape)
        patch = PathPatch(MplPath(np.vstack([points, points[:1]]), closed=True))
    else:
        patch = Polygon(outline(shape), closed=True)
    if shape.width:
        sharp = shape.kind in {"triangle", "star"}
        patch.set(fill=False, edgecolor="black", linewidth=shape.width * 72.0 / DPI)
        patch.set_joinstyle("round" if sharp else "miter")
    else:
        patch.set(fill=True, facecolor="black", edgecolor="none", linewidth=0.0)
    patch.set_antialiased(True)
    return patch


class Canvas:
    """An Agg figure whose data coordinates are the image's pixels (y down)."""

    def __init__(self, width: int, height: int) -> None:
        # the 1e-4 keeps int(inches * dpi) from rounding a pixel away
        self.figure = Figure(figsize=((width + 1e-4) / DPI, (height + 1e-4) / DPI), dpi=DPI)
        self.figure.patch.set_alpha(0.0)
        self.agg = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
        self.axes.set_xlim(0, width)
        self.axes.set_ylim(height, 0)
        self.axes.set_axis_off()
        self.size = (height, width)

    def coverage(self, shape: Shape) -> FloatArray:
        """The shape alone: per-pixel coverage in [0, 1], shape (height, width)."""
        patch = make_patch(shape)
        self.axes.add_patch(patch)
        self.figure.canvas.draw()
        rgba = np.asarray(self.agg.buffer_rgba())  # type: ignore[no-untyped-call]
        alpha = rgba[..., 3].astype(np.float64) / 255.0
        patch.remove()
        if alpha.shape != self.size:
            raise RuntimeError(f"canvas is {alpha.shape}, expected {self.size}")
        return alpha


def pick_colour(
    rng: Rng, behind: FloatArray, hint: tuple[float, float, float] | None
) -> FloatArray:
    """A colour at least CONTRAST away from 90 % of ``behind`` (N x 3), else the best."""
    if len(behind) > 2000:
        behind = behind[rng.choice(len(behind), size=2000, replace=False)]
    candidates = rng.uniform(0.0, 255.0, size=(256, 3))
    if hint is not None:
        candidates = np.vstack([np.array([hint]), candidates])
    distances = np.linalg.norm(behind[None, :, :] - candidates[:, None, :], axis=2)
    score = np.percentile(distances, 10, axis=1)
    good = np.flatnonzero(score >= CONTRAST)
    best = int(good[0]) if len(good) else int(np.argmax(score))
    return np.asarray(candidates[best], dtype=np.float64)


def tight_box(alpha: FloatArray) -> tuple[Box, int] | None:
    """[x1, y1, x2, y2] of the pixels above ALPHA_THRESHOLD and their count."""
    drawn = alpha > ALPHA_THRESHOLD
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if rows.size == 0:
        return None
    box = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
    return box, int(drawn.sum())


def paint(
    rng: Rng, canvas: Canvas, image: FloatArray, shapes: list[Shape]
) -> tuple[FloatArray, list[tuple[str, Box, int]]]:
    """Composite the shapes over ``image``; return it and (class, box, area) per shape."""
    masks = [canvas.coverage(shape) for shape in shapes]
    colours: dict[int, FloatArray] = {}
    truth: list[tuple[str, Box, int]] = []
    for index, (shape, mask) in enumerate(zip(shapes, masks, strict=True)):
        key = shape.group if shape.group >= 0 else 1000 + index
        if key not in colours:
            members = [m for s, m in zip(shapes, masks, strict=True) if s.group == shape.group]
            region = np.maximum.reduce(members) if shape.group >= 0 else mask
            under = image[region > 0.5] if (region > 0.5).any() else image[region > 0]
            colours[key] = pick_colour(rng, under.reshape(-1, 3), shape.hint)
        image = image * (1.0 - mask[..., None]) + colours[key] * mask[..., None]
        found = tight_box(mask)
        if found is not None:
            truth.append((shape.kind, found[0], found[1]))
    return image, truth


# ---------------------------------------------------------------- backgrounds


def _colour(rng: Rng) -> FloatArray:
    return rng.uniform(0.0, 255.0, size=3)


def _field(rng: Rng, height: int, width: int, cells: int, channels: int) -> FloatArray:
    """Smooth value noise in [-1, 1]: a random grid, smoothstep-interpolated."""
    gh = max(2, round(cells * height / max(height, width)) + 1)
    gw = max(2, round(cells * width / max(height, width)) + 1)
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw, channels))
    ys, xs = np.linspace(0, gh - 1, height), np.linspace(0, gw - 1, width)
    y0, x0 = np.minimum(ys.astype(int), gh - 2), np.minimum(xs.astype(int), gw - 2)
    fy, fx = ys - y0, xs - x0
    fy, fx = (fy * fy * (3 - 2 * fy))[:, None, None], (fx * fx * (3 - 2 * fx))[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy, dtype=np.float64)


def _coords(height: int, width: int) -> tuple[FloatArray, FloatArray]:
    yy, xx = np.indices((height, width), dtype=np.float64)
    return yy, xx


def bg_solid(rng: Rng, height: int, width: int) -> FloatArray:
    return np.broadcast_to(_colour(rng), (height, width, 3)).copy()


def bg_gradient(rng: Rng, height: int, width: int) -> FloatArray:
    yy, xx = _coords(height, width)
    if rng.random() < 0.3:
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        t = np.hypot(yy - cy, xx - cx)
    else:
        theta = rng.uniform(0.0, 2 * math.pi)
        t = xx * math.cos(theta) + yy * math.sin(theta)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-9)
    c1, c2 = _colour(rng), _colour(rng)
    return np.asarray(c1 + (c2 - c1) * t[..., None], dtype=np.float64)


def bg_noise(rng: Rng, height: int, width: int) -> FloatArray:
    cells = int(rng.integers(3, 24))
    base = rng.uniform(50.0, 205.0, size=3)
    smooth = rng.uniform(20.0, 50.0) * _field(rng, height, width, cells, 3)
    fine = rng.normal(0.0, rng.uniform(5.0, 18.0), size=(height, width, 3))
    return np.asarray(base + smooth + fine, dtype=np.float64)


def bg_stripes(rng: Rng, height: int, width: int) -> FloatArray:
    yy, xx = _coords(height, width)
    theta = rng.uniform(0.0, math.pi)
    period = rng.uniform(8.0, 60.0)
    phase = ((xx * math.cos(theta) + yy * math.sin(theta)) / period + rng.random()) % 1.0
    if rng.random() < 0.5:
        mix = (phase < rng.uniform(0.3, 0.7)).astype(np.float64)
    else:
        mix = 0.5 + 0.5 * np.sin(2 * math.pi * phase)
    c1, c2 = _colour(rng), _colour(rng)
    return np.asarray(c1 + (c2 - c1) * mix[..., None], dtype=np.float64)


def bg_blobs(rng: Rng, height: int, width: int) -> FloatArray:
    yy, xx = _coords(height, width)
    image = bg_solid(rng, height, width)
    for _ in range(int(rng.integers(3, 9))):
        sigma = min(height, width) * rng.uniform(0.08, 0.3)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        weight = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))[..., None]
        image = image * (1 - weight) + _colour(rng) * weight
    return image


def bg_paper(rng: Rng, height: int, width: int) -> FloatArray:
    base = np.array([rng.uniform(225, 250), rng.uniform(215, 240), rng.uniform(190, 225)])
    mottle = rng.uniform(4.0, 10.0) * _field(rng, height, width, int(rng.integers(3, 9)), 1)
    fibre = rng.uniform(2.0, 5.0) * _field(rng, height, width, max(height, width) // 6, 1)
    grain = rng.normal(0.0, rng.uniform(4.0, 10.0), size=(height, width, 1))
    return np.asarray(base + mottle + fibre + grain, dtype=np.float64)


BACKGROUNDS: dict[str, Callable[[Rng, int, int], FloatArray]] = {
    "solid": bg_solid,
    "gradient": bg_gradient,
    "noise": bg_noise,
    "stripes": bg_stripes,
    "blobs": bg_blobs,
    "paper": bg_paper,
}


# ---------------------------------------------------------------- images and files


def degrade(rng: Rng, image: FloatArray) -> Image.Image:
    """Mild blur and sensor noise, as an 8-bit RGB image."""
    out = Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8))
    if rng.random() < 0.5:
        out = out.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.0)))
    if rng.random() < 0.7:
        noisy = np.asarray(out, dtype=np.float64)
        noisy = noisy + rng.normal(0.0, rng.uniform(1.0, 6.0), size=noisy.shape)
        out = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
    return out


@dataclass(frozen=True, kw_only=True)
class Sample:
    scene: str
    background: str
    quality: int
    image: Image.Image
    truth: list[tuple[str, Box, int]]


def render(seed: int, index: int, scene: str) -> Sample:
    """Image ``index`` of the set: its own RNG stream, so any one can be redrawn alone."""
    rng = np.random.default_rng([seed, index])
    width, height = (int(v) for v in rng.integers(256, 641, size=2))
    shapes = layout(rng, scene, width, height)
    background = str(rng.choice(list(BACKGROUNDS)))
    canvas = Canvas(width, height)
    image, truth = paint(rng, canvas, BACKGROUNDS[background](rng, height, width), shapes)
    return Sample(
        scene=scene,
        background=background,
        quality=int(rng.integers(55, 96)),
        image=degrade(rng, image),
        truth=truth,
    )


def prepare(out: Path) -> None:
    """Create the folders and drop files of an earlier run (ours only: NNNNN.jpg)."""
    for folder in [out / "images", *(out / "scenes" / scene for scene in SCENES)]:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("[0-9][0-9][0-9][0-9][0-9].jpg"):
            old.unlink()


def save(out: Path, image_id: int, sample: Sample) -> str:
    name = f"{image_id:05d}.jpg"
    path = out / "images" / name
    sample.image.save(path, format="JPEG", quality=sample.quality)
    link = out / "scenes" / sample.scene / name
    try:
        link.hardlink_to(path)
    except OSError:
        shutil.copyfile(path, link)
    return name


def coco_entries(
    image_id: int, name: str, sample: Sample, first_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    width, height = sample.image.size
    info = {"id": image_id, "file_name": name, "width": width, "height": height}
    info |= {"scene": sample.scene, "background": sample.background}
    annotations = [
        {
            "id": first_id + k,
            "image_id": image_id,
            "category_id": CLASSES.index(kind) + 1,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "area": area,
            "iscrowd": 0,
        }
        for k, (kind, (x1, y1, x2, y2), area) in enumerate(sample.truth)
    ]
    return info, annotations


def generate(count: int, seed: int, out: Path) -> dict[str, Any]:
    """Render and write the whole set; return the COCO dict."""
    scenes = [SCENES[i % len(SCENES)] for i in range(count)]
    np.random.default_rng(seed).shuffle(scenes)
    prepare(out)
    coco: dict[str, Any] = {
        "info": {"description": f"bench/heldout.py seed={seed} count={count}"},
        "images": [],
        "annotations": [],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(CLASSES)
        ],
    }
    for index, scene in enumerate(scenes):
        sample = render(seed, index, scene)
        name = save(out, index + 1, sample)
        info, annotations = coco_entries(index + 1, name, sample, len(coco["annotations"]) + 1)
        coco["images"].append(info)
        coco["annotations"].extend(annotations)
    (out / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    return coco


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300, help="images to draw")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--out", type=Path, default=Path("var/heldout"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    coco = generate(args.count, args.seed, args.out)
    classes = Counter(CLASSES[a["category_id"] - 1] for a in coco["annotations"])
    scenes = Counter(info["scene"] for info in coco["images"])
    print(
        f"wrote {len(coco['images'])} images, {len(coco['annotations'])} boxes to {args.out} "
        f"in {time.perf_counter() - started:.1f}s; scenes {dict(scenes)}; classes {dict(classes)}"
    )


if __name__ == "__main__":
    main()
