"""The cluttered world: procedural backgrounds with the statistics of real images, shapes
that are not primitives (hard negatives), and the damage photographs and scans carry.

SPEC.md's primitives drawn over plain generated backgrounds teach a detector nothing
about texture: over real photographs shapenet-v5 lost a quarter of its mAP, its false
detections sitting on gravel, grass, fabric and print (issue 16). No photo collection is
reachable here, so clutter is made procedurally, after Baradad et al. 2021 ("Learning
to See by Looking at Noise": dead leaves, multi-octave noise and procedural images as
training data) and the domain-randomisation idea of Tobin et al. 2017 (vary everything
that should not matter, widely enough that real images look like one more variation).

Every family here is a function of a ``numpy.random.Generator`` alone, so a sample stays
reproducible from its seed and index (see ``synthetic.SceneGenerator``). Families are
named, so that evaluation can hold some out: :data:`HELDOUT_BACKGROUNDS` and
:data:`HELDOUT_DAMAGE` are never drawn in training (``ml_models.training.robustness``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Point = tuple[float, float]
Colour = tuple[int, int, int]
Background = tuple[Image.Image, list[Colour]]

# --------------------------------------------------------------------------- helpers


def _colour(values: np.ndarray | Sequence[float]) -> Colour:
    r, g, b = (int(np.clip(v, 0, 255)) for v in values[:3])
    return (r, g, b)


def _palette(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` colours around one random hue family, or unrelated ones (float, 0-255)."""
    if rng.random() < 0.5:
        base = rng.uniform(0, 255, size=3)
        spread = rng.uniform(25, 110)
        return np.clip(base + rng.normal(0, spread, size=(count, 3)), 0, 255)
    return rng.uniform(0, 255, size=(count, 3))


def _sampled_colours(image: Image.Image, rng: np.random.Generator, count: int = 8) -> list[Colour]:
    """Colours at random pixels: what a shape drawn over this background must contrast with."""
    arr = np.asarray(image)
    ys = rng.integers(0, arr.shape[0], size=count)
    xs = rng.integers(0, arr.shape[1], size=count)
    return [_colour(arr[y, x]) for y, x in zip(ys, xs, strict=True)]


def _smooth_field(w: int, h: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """A smooth random field in [0, 1] of (h, w): ``cells`` random values across the
    longer side, enlarged bicubically (one octave of value noise)."""
    cells = max(2, cells)
    gw = max(2, round(cells * w / max(w, h)) + 1)
    gh = max(2, round(cells * h / max(w, h)) + 1)
    small = rng.random((gh, gw)).astype(np.float32)
    field = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(field)


def _fractal(w: int, h: int, rng: np.random.Generator, *, persistence: float) -> np.ndarray:
    """Multi-octave value noise normalised to [0, 1]: octave k has 2**k cells and weight
    ``persistence**k`` (about 1/f statistics for persistence near 0.5-0.7)."""
    total = np.zeros((h, w), dtype=np.float32)
    weight = 1.0
    octaves = int(math.log2(max(w, h))) - 1
    for k in range(1, octaves + 1):
        total += weight * (_smooth_field(w, h, rng, 2**k) - 0.5)
        weight *= persistence
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def _colourise(field: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map a [0, 1] field through a piecewise-linear ramp of ``palette`` colours."""
    stops = np.linspace(0.0, 1.0, len(palette))
    channels = [np.interp(field, stops, palette[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1)


def _blob_points(
    cx: float, cy: float, radius: float, rng: np.random.Generator, *, roughness: float = 0.35
) -> list[Point]:
    """An irregular closed blob: a circle whose radius wanders (never a clean primitive)."""
    steps = int(np.clip(radius * 0.8, 10, 48))
    angles = np.linspace(0, 2 * math.pi, steps, endpoint=False)
    bumps = np.zeros(steps)
    for harmonic in range(2, 6):
        bumps += (
            rng.uniform(-roughness, roughness)
            / harmonic
            * np.cos(harmonic * angles + rng.uniform(0, 2 * math.pi))
        )
    radii = radius * np.clip(1 + bumps + rng.normal(0, roughness / 6, steps), 0.3, 1.8)
    return [
        (cx + float(r) * math.cos(a), cy + float(r) * math.sin(a))
        for r, a in zip(radii, angles, strict=True)
    ]


def _power_law(rng: np.random.Generator, low: float, high: float, exponent: float) -> float:
    """A size drawn from p(r) ~ r**-exponent on [low, high] (dead leaves use about 3)."""
    a = 1 - exponent
    u = rng.random()
    return float((low**a + u * (high**a - low**a)) ** (1 / a))


# --------------------------------------------------------------------------- backgrounds


def dead_leaves(w: int, h: int, rng: np.random.Generator) -> Background:
    """Occluding irregular leaves with power-law sizes (Baradad et al.'s dead leaves, with
    blobs instead of discs: discs and squares are primitives here)."""
    palette = _palette(rng, 12)
    canvas = Image.new("RGB", (w, h), _colour(palette[0]))
    draw = ImageDraw.Draw(canvas)
    short = min(w, h)
    for _ in range(int(rng.integers(120, 320))):
        radius = _power_law(rng, short * 0.01, short * 0.25, 3.0)
        cx, cy = rng.uniform(-radius, w + radius), rng.uniform(-radius, h + radius)
        colour = palette[int(rng.integers(len(palette)))] + rng.normal(0, 12, 3)
        draw.polygon(_blob_points(cx, cy, radius, rng, roughness=0.6), fill=_colour(colour))
    if rng.random() < 0.5:
        canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    return canvas, _sampled_colours(canvas, rng)


def fractal_noise(w: int, h: int, rng: np.random.Generator) -> Background:
    """Multi-octave (1/f) noise through a random colour ramp: clouds, terrain, stains."""
    field = _fractal(w, h, rng, persistence=float(rng.uniform(0.45, 0.8)))
    if rng.random() < 0.3:  # ridged: sharp creases like rock or bark
        field = 1 - np.abs(2 * field - 1)
    arr = _colourise(field, _palette(rng, int(rng.integers(2, 6))))
    canvas = Image.fromarray(arr.astype(np.uint8))
    return canvas, _sampled_colours(canvas, rng)


def _grating(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(3, 40)
    angle = rng.uniform(0, math.pi)
    yy, xx = np.indices((h, w), dtype=np.float32)
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period
    return np.asarray(0.5 + 0.5 * np.sin(phase + rng.uniform(0, 2 * math.pi)), dtype=np.float32)


def texture(w: int, h: int, rng: np.random.Generator) -> Background:
    """Fine repeated texture: woven fabric and plaid (crossed gratings), gravel (a dense
    carpet of small stones), grass (short strokes, mostly upright) or a dotted print."""
    kind = rng.choice(["fabric", "gravel", "grass", "dots"])
    palette = _palette(rng, 6)
    if kind == "fabric":
        field = _grating(w, h, rng) * _grating(w, h, rng)
        if rng.random() < 0.5:
            field = 0.6 * field + 0.4 * _grating(w, h, rng)
        arr = _colourise(field, palette[:3])
        arr += rng.normal(0, rng.uniform(2, 10), size=(h, w, 1))
        canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        return canvas, _sampled_colours(canvas, rng)
    canvas = Image.new("RGB", (w, h), _colour(palette[0]))
    draw = ImageDraw.Draw(canvas)
    short = min(w, h)
    if kind == "gravel":  # parameters drawn at once: thousands of stones per image
        count = int(w * h / rng.uniform(120, 400))
        radii = rng.uniform(0.006, 0.03, count) * short
        centres = rng.uniform(0, 1, (count, 2)) * (w, h)
        colours = palette[rng.integers(len(palette), size=count)] + rng.normal(0, 18, (count, 3))
        steps = 9
        angles = np.linspace(0, 2 * math.pi, steps, endpoint=False)
        jitter = rng.uniform(0.6, 1.4, (count, steps)) * radii[:, None]
        xs = centres[:, :1] + jitter * np.cos(angles)
        ys = centres[:, 1:] + jitter * np.sin(angles)
        for k in range(count):
            draw.polygon(
                list(zip(xs[k].tolist(), ys[k].tolist(), strict=True)), fill=_colour(colours[k])
            )
    elif kind == "grass":
        count = int(w * h / rng.uniform(60, 200))
        lean = rng.uniform(-0.6, 0.6)
        starts = rng.uniform(0, 1, (count, 2)) * (w, h)
        lengths = rng.uniform(0.02, 0.08, count) * short
        angles = -math.pi / 2 + lean + rng.normal(0, 0.3, count)
        ends = starts + lengths[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
        colours = palette[rng.integers(len(palette), size=count)] + rng.normal(0, 20, (count, 3))
        widths = rng.integers(1, 3, count)
        for k in range(count):
            draw.line(
                [tuple(starts[k].tolist()), tuple(ends[k].tolist())],
                fill=_colour(colours[k]),
                width=int(widths[k]),
            )
    else:  # a dotted print, jittered
        step = rng.uniform(5, 24)
        radius = step * rng.uniform(0.15, 0.4)
        colour = _colour(palette[1])
        for gy in np.arange(0, h + step, step):
            for gx in np.arange(0, w + step, step):
                x, y = gx + rng.normal(0, step * 0.08), gy + rng.normal(0, step * 0.08)
                box = (float(x - radius), float(y - radius), float(x + radius), float(y + radius))
                draw.ellipse(box, fill=colour)
    if rng.random() < 0.5:
        canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    return canvas, _sampled_colours(canvas, rng)


def natural_scene(w: int, h: int, rng: np.random.Generator) -> Background:
    """A procedural "photograph": sky and ground split by a wandering horizon, soft
    gradients, occluding blurred blobs near and far, and edges at every scale."""
    palette = _palette(rng, 6)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = palette[0] * (1 - yy) + palette[1] * yy
    ground = palette[2] * (1 - yy) + palette[3] * yy
    xs = np.arange(w, dtype=np.float32)
    horizon = h * rng.uniform(0.25, 0.75) + h * 0.12 * (
        _fractal(w, 2, rng, persistence=0.6)[0] - 0.5
    )
    below = (np.arange(h, dtype=np.float32)[:, None] > horizon[None, :])[..., None]
    arr = np.where(below, ground, sky) * np.ones((1, w, 1), dtype=np.float32)
    detail = _fractal(w, h, rng, persistence=0.65)[..., None]
    arr = arr * (0.75 + 0.5 * detail)
    canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    del xs
    for depth in range(int(rng.integers(2, 4))):  # far layers blurrier than near ones
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        for _ in range(int(rng.integers(3, 12))):
            radius = rng.uniform(0.04, 0.3) * min(w, h)
            draw.polygon(
                _blob_points(rng.uniform(0, w), rng.uniform(0, h), radius, rng, roughness=0.5),
                fill=255,
            )
        blur = float(rng.uniform(0.5, 6.0)) / (depth + 1)
        layer = layer.filter(ImageFilter.GaussianBlur(blur))
        colour = palette[int(rng.integers(len(palette)))] + rng.normal(0, 25, 3)
        canvas.paste(_colour(colour), (0, 0, w, h), layer)
    return canvas, _sampled_colours(canvas, rng)


def _scribble(
    draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, colour: Colour
) -> None:
    """A freehand stroke: a random walk with momentum, drawn as one polyline."""
    x, y = rng.uniform(0, w), rng.uniform(0, h)
    heading = rng.uniform(0, 2 * math.pi)
    step = rng.uniform(2, 8)
    points = [(x, y)]
    for _ in range(int(rng.integers(8, 80))):
        heading += rng.normal(0, 0.45)
        x += step * math.cos(heading)
        y += step * math.sin(heading)
        points.append((x, y))
    draw.line(points, fill=colour, width=int(rng.integers(1, 4)), joint="curve")


def line_art(w: int, h: int, rng: np.random.Generator) -> Background:
    """Line art on paper: scribbles, hatching, long curves and straight rules."""
    paper = (
        _colour(rng.uniform(170, 255, size=3))
        if rng.random() < 0.7
        else _colour(rng.uniform(0, 255, size=3))
    )
    canvas = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(canvas)
    inks = _palette(rng, 4)
    for _ in range(int(rng.integers(6, 40))):
        ink = _colour(inks[int(rng.integers(len(inks)))])
        kind = rng.random()
        if kind < 0.55:
            _scribble(draw, w, h, rng, ink)
        elif kind < 0.8:  # a patch of hatching
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            size = rng.uniform(0.05, 0.3) * min(w, h)
            angle = rng.uniform(0, math.pi)
            gap = rng.uniform(2, 7)
            dx, dy = math.cos(angle) * size, math.sin(angle) * size
            for k in range(int(size / gap)):
                ox, oy = -math.sin(angle) * k * gap, math.cos(angle) * k * gap
                draw.line([(x + ox, y + oy), (x + ox + dx, y + oy + dy)], fill=ink, width=1)
        else:  # a straight rule across the page
            draw.line(
                [(rng.uniform(0, w), rng.uniform(0, h)), (rng.uniform(0, w), rng.uniform(0, h))],
                fill=ink,
                width=int(rng.integers(1, 4)),
            )
    return canvas, [paper, *(_colour(c) for c in inks)]


_GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789&%$#@?!+=<>/()"


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_glyphs(w: int, h: int, rng: np.random.Generator) -> Background:
    """Print: lines of random glyphs in a few sizes and inks, as on a page, a label or a
    poster (O, D and 0 are round and boxy without being primitives)."""
    palette = _palette(rng, 4)
    canvas = Image.new("RGB", (w, h), _colour(palette[0]))
    draw = ImageDraw.Draw(canvas)
    size = int(rng.integers(8, 40))
    font = _font(size)
    y = rng.uniform(-size, size)
    while y < h:
        x = rng.uniform(-size * 2, size)
        ink = _colour(palette[1 + int(rng.integers(3))])
        line = "".join(
            " " if rng.random() < 0.15 else _GLYPHS[int(rng.integers(len(_GLYPHS)))]
            for _ in range(int(w / max(size * 0.5, 1)) + 2)
        )
        draw.text((x, y), line, fill=ink, font=font)
        y += size * rng.uniform(1.1, 2.2)
        if rng.random() < 0.15:  # a new block in another size
            size = int(rng.integers(8, 40))
            font = _font(size)
    return canvas, _sampled_colours(canvas, rng)


def marble(w: int, h: int, rng: np.random.Generator) -> Background:
    """Veined stone and wood grain: a sine pattern warped by multi-octave noise (Perlin's
    turbulence). Held out of training: evaluation only."""
    yy, xx = np.indices((h, w), dtype=np.float32)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(20, 160)
    warp = _fractal(w, h, rng, persistence=0.6) * rng.uniform(2, 10)
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) / period + warp
    field = 0.5 + 0.5 * np.sin(2 * math.pi * phase)
    if rng.random() < 0.5:  # wood: growth rings about a centre
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ring = np.hypot(xx - cx, yy - cy) / period + warp
        field = np.abs(np.sin(math.pi * ring))
    arr = _colourise(field ** float(rng.uniform(0.5, 2.0)), _palette(rng, 3))
    arr += rng.normal(0, rng.uniform(1, 6), size=(h, w, 1))
    canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return canvas, _sampled_colours(canvas, rng)


BackgroundFamily = Callable[[int, int, np.random.Generator], Background]

BACKGROUNDS: dict[str, BackgroundFamily] = {
    "dead_leaves": dead_leaves,
    "fractal_noise": fractal_noise,
    "texture": texture,
    "natural_scene": natural_scene,
    "line_art": line_art,
    "text": text_glyphs,
    "marble": marble,
}
HELDOUT_BACKGROUNDS: tuple[str, ...] = ("marble",)
TRAIN_BACKGROUNDS: tuple[str, ...] = tuple(b for b in BACKGROUNDS if b not in HELDOUT_BACKGROUNDS)


def foreground_clutter(image: Image.Image, rng: np.random.Generator, amount: int) -> None:
    """Strokes and small irregular blobs drawn over everything (in front of the shapes):
    a shape partly covered keeps the box of its full outline (SPEC.md)."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    inks = _palette(rng, 3)
    for _ in range(amount):
        ink = _colour(inks[int(rng.integers(len(inks)))])
        if rng.random() < 0.6:
            _scribble(draw, w, h, rng, ink)
        else:
            radius = rng.uniform(0.003, 0.01) * min(w, h)
            draw.polygon(_blob_points(rng.uniform(0, w), rng.uniform(0, h), radius, rng), fill=ink)


# --------------------------------------------------------------------------- hard negatives

NEGATIVES: tuple[str, ...] = (
    "crescent",
    "cross",
    "arrow",
    "heptagon",
    "octagon",
    "rounded_rectangle",
    "heart",
    "irregular",
    "sector",
)


def negative_min_extent(kind: str, short_side: float) -> float:
    """The smallest a negative of ``kind`` is drawn in an image of ``short_side`` px.

    Below it a heptagon or an octagon cannot be told from a hexagon or a circle, nor a
    rounded rectangle from a square, even by a person: drawn smaller, they taught
    shapenet-v6's first run to doubt small hexagons and squares (hexagon AP@0.5 on the
    plain set 0.885 -> 0.800 after 2,000 steps)."""
    if kind in {"heptagon", "octagon"}:
        return max(60.0, 0.15 * short_side)
    if kind == "rounded_rectangle":
        return max(40.0, 0.1 * short_side)
    return 20.0


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, steps: int) -> list[Point]:
    return [
        (
            cx + r * math.cos(a0 + (a1 - a0) * k / steps),
            cy + r * math.sin(a0 + (a1 - a0) * k / steps),
        )
        for k in range(steps + 1)
    ]


def _turn(points: list[Point], angle: float, centre: Point) -> list[Point]:
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    cx, cy = centre
    return [
        (cx + (x - cx) * cos_a - (y - cy) * sin_a, cy + (x - cx) * sin_a + (y - cy) * cos_a)
        for x, y in points
    ]


def negative_shape(  # noqa: PLR0911  # pylint: disable=too-many-return-statements,too-many-locals
    kind: str, cx: float, cy: float, extent: float, rng: np.random.Generator
) -> list[Point]:
    """Polygon of a shape that is *not* a SPEC.md primitive, about ``extent`` px across.

    No rings: SPEC.md counts "a round disc or ring" as a circle, so a ring is a positive.
    """
    r = extent / 2
    angle = float(rng.uniform(0, 2 * math.pi))
    if kind == "crescent":  # a disc minus an offset disc: outer arc, then inner arc back
        offset = rng.uniform(0.35, 0.7) * r
        inner = r * rng.uniform(0.8, 1.0)
        # where the circles cross, seen from each centre
        cos_outer = (offset**2 + r**2 - inner**2) / (2 * offset * r)
        a = math.acos(float(np.clip(cos_outer, -1, 1)))
        cos_inner = (offset**2 + inner**2 - r**2) / (2 * offset * inner)
        b = math.acos(float(np.clip(cos_inner, -1, 1)))
        outer_arc = _arc(cx, cy, r, a, 2 * math.pi - a, 40)
        inner_arc = _arc(cx + offset, cy, inner, math.pi + b, math.pi - b, 30)
        return _turn(outer_arc + inner_arc, angle, (cx, cy))
    if kind == "cross":
        t = r * rng.uniform(0.25, 0.45)
        arm = r
        pts = [
            (-t, -arm), (t, -arm), (t, -t), (arm, -t), (arm, t), (t, t),
            (t, arm), (-t, arm), (-t, t), (-arm, t), (-arm, -t), (-t, -t),
        ]  # fmt: skip
        return _turn([(cx + x, cy + y) for x, y in pts], angle, (cx, cy))
    if kind == "arrow":
        shaft = r * rng.uniform(0.15, 0.3)
        head_w = r * rng.uniform(0.5, 0.8)
        head_l = r * rng.uniform(0.5, 0.9)
        pts = [
            (-r, -shaft), (r - head_l, -shaft), (r - head_l, -head_w), (r, 0.0),
            (r - head_l, head_w), (r - head_l, shaft), (-r, shaft),
        ]  # fmt: skip
        return _turn([(cx + x, cy + y) for x, y in pts], angle, (cx, cy))
    if kind in {"heptagon", "octagon"}:
        sides = 7 if kind == "heptagon" else 8
        return [
            (
                cx + r * math.cos(angle + 2 * math.pi * k / sides),
                cy + r * math.sin(angle + 2 * math.pi * k / sides),
            )
            for k in range(sides)
        ]
    if kind == "rounded_rectangle":
        w = r * 2
        hh = w / rng.uniform(1.0, 2.5)
        corner = min(w, hh) * rng.uniform(0.18, 0.32)
        x0, y0, x1, y1 = -w / 2 + corner, -hh / 2 + corner, w / 2 - corner, hh / 2 - corner
        pts = (
            _arc(x1, y1, corner, 0, math.pi / 2, 6)
            + _arc(x0, y1, corner, math.pi / 2, math.pi, 6)
            + _arc(x0, y0, corner, math.pi, 1.5 * math.pi, 6)
            + _arc(x1, y0, corner, 1.5 * math.pi, 2 * math.pi, 6)
        )
        return _turn([(cx + x, cy + y) for x, y in pts], angle, (cx, cy))
    if kind == "heart":
        ts = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        xs = 16 * np.sin(ts) ** 3
        ys = -(13 * np.cos(ts) - 5 * np.cos(2 * ts) - 2 * np.cos(3 * ts) - np.cos(4 * ts))
        scale = r / 17
        tilt = float(rng.uniform(-0.6, 0.6))
        return _turn(
            [(cx + x * scale, cy + y * scale) for x, y in zip(xs, ys, strict=True)], tilt, (cx, cy)
        )
    if kind == "irregular":  # 5-9 vertices at uneven angles and radii, often concave
        n = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = r * rng.uniform(0.35, 1.0, n)
        # never nearly regular: one vertex at the full radius, one well inside
        radii[int(radii.argmax())] = r
        radii[int(radii.argmin())] = min(float(radii.min()), 0.45 * r)
        return [
            (cx + float(q) * math.cos(a), cy + float(q) * math.sin(a))
            for q, a in zip(radii, angles, strict=True)
        ]
    if kind == "sector":  # a pie slice or half disc: part of a circle, not a circle
        span = rng.uniform(0.6, 1.5) * math.pi
        return [(cx, cy), *_arc(cx, cy, r, angle, angle + span, 32)]
    raise ValueError(f"unknown negative {kind!r}")


# --------------------------------------------------------------------------- geometry damage


def wobble(points: list[Point], rng: np.random.Generator, amount: float) -> list[Point]:
    """Hand-drawn wobble: the outline resampled every ~3 px and pushed along its normal by
    a smooth random offset of about ``amount`` of the shape's extent (corners stay)."""
    xs = np.array([p[0] for p in points] + [points[0][0]])
    ys = np.array([p[1] for p in points] + [points[0][1]])
    seg = np.hypot(np.diff(xs), np.diff(ys))
    perimeter = float(seg.sum())
    if perimeter < 8:
        return points
    extent = max(xs.max() - xs.min(), ys.max() - ys.min())
    count = int(np.clip(perimeter / 3, 24, 400))
    along = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0, perimeter, count, endpoint=False)
    px, py = np.interp(t, along, xs), np.interp(t, along, ys)
    tx, ty = np.gradient(px), np.gradient(py)
    norm = np.hypot(tx, ty) + 1e-6
    phase = 2 * math.pi * t / perimeter
    offset = np.zeros(count)
    for harmonic in (2, 3, 5, 7):
        offset += (
            rng.normal(0, 1) / harmonic * np.sin(harmonic * phase + rng.uniform(0, 2 * math.pi))
        )
    offset *= amount * extent
    return [
        (float(x), float(y))
        for x, y in zip(px - ty / norm * offset, py + tx / norm * offset, strict=True)
    ]


def homography(w: int, h: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A mild perspective: the image's corners moved by up to ``strength`` of its size,
    as a 3x3 matrix mapping original points to their new places."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    dst = src + rng.uniform(-strength, strength, size=(4, 2)) * np.array([w, h])
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.array(rows))
    matrix = vt[-1].reshape(3, 3)
    return np.asarray(matrix / matrix[2, 2])


def project(points: list[Point], matrix: np.ndarray) -> list[Point]:
    """``points`` mapped through a homography."""
    arr = np.column_stack([np.asarray(points, dtype=np.float64), np.ones(len(points))])
    out = arr @ matrix.T
    return [(float(x), float(y)) for x, y in out[:, :2] / out[:, 2:3]]


# --------------------------------------------------------------------------- photometric damage


def colour_cast(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """White balance gone wrong, exposure and contrast off, sometimes washed out."""
    pixels = np.asarray(image).astype(np.float32)
    gains = rng.uniform(0.7, 1.3, size=3) * rng.uniform(0.75, 1.25)
    cast = pixels * gains + rng.uniform(-30, 30, size=3)
    contrast = rng.uniform(0.6, 1.2)
    cast = (cast - cast.mean()) * contrast + cast.mean()
    return Image.fromarray(np.clip(cast, 0, 255).astype(np.uint8))


def vignette(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Corners darker than the centre, as through a cheap lens."""
    w, h = image.size
    yy, xx = np.indices((h, w), dtype=np.float32)
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
    dist = np.hypot((xx - cx) / w, (yy - cy) / h) / 0.7
    falloff = 1 - rng.uniform(0.2, 0.65) * np.clip(dist, 0, 1.4) ** 2
    arr = np.asarray(image).astype(np.float32) * falloff[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def defocus(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Out of focus: a box blur (a disc's cheap neighbour) or a gaussian one."""
    radius = float(rng.uniform(0.6, 2.2))
    if rng.random() < 0.5:
        return image.filter(ImageFilter.BoxBlur(radius))
    return image.filter(ImageFilter.GaussianBlur(radius))


def motion_blur(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A shaken camera: the mean of copies shifted along one direction, up to 9 px."""
    length = int(rng.integers(3, 10))
    angle = rng.uniform(0, math.pi)
    arr = np.asarray(image).astype(np.float32)
    total = np.zeros_like(arr)
    for k in range(length):
        t = k - (length - 1) / 2
        dx, dy = round(t * math.cos(angle)), round(t * math.sin(angle))
        total += np.roll(arr, (dy, dx), axis=(0, 1))
    return Image.fromarray(np.clip(total / length, 0, 255).astype(np.uint8))


def sensor_noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Shot noise that grows with brightness, read noise, and colour (chroma) noise."""
    arr = np.asarray(image).astype(np.float32)
    shot = rng.uniform(0.0, 1.2)
    read = rng.uniform(2, 12)
    noise = rng.normal(0, 1, size=arr.shape).astype(np.float32) * (read + shot * np.sqrt(arr))
    if rng.random() < 0.5:  # luminance only
        noise = noise.mean(axis=2, keepdims=True)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """JPEG at quality 30-95, sometimes with 4:2:0 chroma subsampling's colour bleed."""
    buf = io.BytesIO()
    image.save(
        buf, format="JPEG", quality=int(rng.integers(30, 96)), subsampling=int(rng.choice([0, 2]))
    )
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def enlarge(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A very large image: the picture upscaled to 1,000-2,000 px on its longer side
    (the model letterboxes it back down, through its own antialiased resize)."""
    longest = max(image.size)
    target = float(rng.uniform(1000, 2000))
    scale = target / longest
    if scale <= 1:
        return image
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.BICUBIC)


def shading(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Uneven light: a smooth illumination field times the picture, with the soft edge
    of a cast shadow across it. Held out of training: evaluation only."""
    w, h = image.size
    light = 0.55 + 0.7 * _smooth_field(w, h, rng, int(rng.integers(2, 5)))
    yy, xx = np.indices((h, w), dtype=np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    edge = (xx - w * rng.uniform(0.2, 0.8)) * math.cos(angle) + (
        yy - h * rng.uniform(0.2, 0.8)
    ) * math.sin(angle)
    shadow = 1 - rng.uniform(0.25, 0.55) / (
        1 + np.exp(np.clip(-edge / rng.uniform(3, 30), -60, 60))
    )
    arr = np.asarray(image).astype(np.float32) * (light * shadow)[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


Damage = Callable[[Image.Image, np.random.Generator], Image.Image]

# In the order a photograph gets them: the light, the lens, the sensor, then the file.
PHOTOMETRIC: dict[str, Damage] = {
    "shading": shading,
    "colour_cast": colour_cast,
    "vignette": vignette,
    "defocus": defocus,
    "motion_blur": motion_blur,
    "sensor_noise": sensor_noise,
    "enlarge": enlarge,
    "jpeg": jpeg,
}
# Damage done to the shapes as they are drawn (see ``synthetic.SceneGenerator``).
GEOMETRIC: tuple[str, ...] = ("perspective", "wobble", "translucent")
DAMAGE: tuple[str, ...] = (*GEOMETRIC, *PHOTOMETRIC)
HELDOUT_DAMAGE: tuple[str, ...] = ("shading",)
TRAIN_DAMAGE: tuple[str, ...] = tuple(d for d in DAMAGE if d not in HELDOUT_DAMAGE)


@dataclass(frozen=True)
class World:
    """Which clutter, negatives and damage a generator draws, and how often.

    ``backgrounds``: families to draw from (uniformly); empty: the plain backgrounds of
    ``synthetic``. ``damage``: each named kind is applied with probability
    ``damage_rate`` (``jpeg`` with ``jpeg_rate``). ``negatives``: the largest number of
    hard negatives per image (0: none). ``foreground``: the largest number of strokes and
    specks drawn over the shapes.
    """

    backgrounds: tuple[str, ...] = TRAIN_BACKGROUNDS
    negatives: int = 5
    foreground: int = 6
    damage: tuple[str, ...] = TRAIN_DAMAGE
    damage_rate: float = 0.3
    jpeg_rate: float = 0.8
    plain_rate: float = 0.15  # some cluttered images keep a plain background

    def __post_init__(self) -> None:
        unknown = [b for b in self.backgrounds if b not in BACKGROUNDS]
        unknown += [d for d in self.damage if d not in DAMAGE]
        if unknown:
            raise ValueError(f"unknown clutter families: {', '.join(unknown)}")

    def applies(self, kind: str, rng: np.random.Generator) -> bool:
        """Whether damage ``kind`` hits this image (one draw per kind in the world)."""
        if kind not in self.damage:
            return False
        rate = self.jpeg_rate if kind == "jpeg" else self.damage_rate
        if kind == "enlarge":  # large images are slow to damage and to letterbox
            rate /= 3
        return bool(rng.random() < rate)

    def photometric(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """The world's photometric damage, each kind by its own draw."""
        for kind, damage in PHOTOMETRIC.items():
            if self.applies(kind, rng):
                image = damage(image, rng)
        return image


TRAINING_WORLD = World()
