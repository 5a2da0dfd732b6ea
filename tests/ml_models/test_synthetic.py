"""The synthetic generator: reproducible, true boxes, SPEC.md's vocabulary."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ml_models.training.synthetic import (
    OBJECT_CLASSES,
    SCENE_CLASSES,
    SceneGenerator,
    Shape,
    random_primitive,
    render,
)


def test_same_seed_and_index_give_the_same_image() -> None:
    first, again = SceneGenerator(seed=3).sample(17), SceneGenerator(seed=3).sample(17)
    assert first.image.tobytes() == again.image.tobytes()
    assert (
        first.boxes == again.boxes and first.labels == again.labels and first.scene == again.scene
    )
    other = SceneGenerator(seed=4).sample(17)
    assert other.image.tobytes() != first.image.tobytes()


def test_samples_follow_the_spec() -> None:
    generator = SceneGenerator(seed=11)
    scenes = set()
    for index in range(40):
        sample = generator.sample(index)
        width, height = sample.image.size
        assert 256 <= width <= 640 and 256 <= height <= 640
        assert sample.scene in SCENE_CLASSES
        assert set(sample.labels) <= set(OBJECT_CLASSES)
        for x1, y1, x2, y2 in sample.boxes:
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        if sample.scene == "random":
            assert 3 <= len(sample.labels) <= 8
        if sample.scene == "flower":
            assert sample.labels.count("ellipse") >= 5 and "circle" in sample.labels
        if sample.scene == "traffic_light":
            assert sample.labels.count("circle") >= 3 and "rectangle" in sample.labels
        scenes.add(sample.scene)
    assert scenes == set(SCENE_CLASSES)


def test_box_of_a_covered_shape_is_its_full_outline() -> None:
    background = Image.new("RGB", (200, 200), (255, 255, 255))
    square = Shape("square", [(20, 20), (120, 20), (120, 120), (20, 120)], (255, 0, 0), 0)
    cover = Shape("rectangle", [(60, 0), (200, 0), (200, 200), (60, 200)], (0, 0, 255), 0)
    image, boxes = render([square, cover], background)
    assert boxes[0] == (20.0, 20.0, 121.0, 121.0)  # PIL fills the closing edge pixels
    # the right part of the square is covered, its box is not
    assert image.getpixel((100, 60)) == (0, 0, 255)


def test_outline_width_is_inside_the_box() -> None:
    background = Image.new("RGB", (100, 100), (255, 255, 255))
    ring = Shape("square", [(30, 30), (70, 30), (70, 70), (30, 70)], (0, 0, 0), 5)
    _, [box] = render([ring], background)
    x1, y1, x2, y2 = box
    assert x1 < 30 and y1 < 30 and x2 > 71 and y2 > 71  # half the pen width sticks out


def test_primitive_geometry() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        star = random_primitive("star", 0, 0, 100, rng)
        radii = sorted(math.hypot(x, y) for x, y in star)
        assert 0.35 <= radii[0] / radii[-1] <= 0.55
        ellipse = random_primitive("ellipse", 0, 0, 100, rng)
        radii = sorted(math.hypot(x, y) for x, y in ellipse)
        assert radii[-1] / radii[0] >= 1.49
        tri = random_primitive("triangle", 0, 0, 100, rng)
        for i in range(3):
            a, b, c = np.array(tri[i]), np.array(tri[(i + 1) % 3]), np.array(tri[(i + 2) % 3])
            cos = np.dot(b - a, c - a) / np.linalg.norm(b - a) / np.linalg.norm(c - a)
            assert math.degrees(math.acos(cos)) >= 24.99
