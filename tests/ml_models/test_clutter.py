"""The cluttered world: procedural backgrounds, hard negatives and damage, reproducible,
with boxes tight on what is drawn and negatives never labelled."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from ml_models.training import clutter, robustness
from ml_models.training.evaluation import ImagePrediction, ImageTruth, operating_point
from ml_models.training.synthetic import (
    OBJECT_CLASSES,
    SCENE_CLASSES,
    SceneGenerator,
    Shape,
    _draw_mask,
    render,
)


@pytest.mark.parametrize("family", sorted(clutter.BACKGROUNDS))
def test_each_background_family_is_reproducible_and_busy(family: str) -> None:
    make = clutter.BACKGROUNDS[family]
    image, colours = make(300, 220, np.random.default_rng([5, 1]))
    again, _ = make(300, 220, np.random.default_rng([5, 1]))
    other, _ = make(300, 220, np.random.default_rng([5, 2]))
    assert image.mode == "RGB" and image.size == (300, 220)
    assert image.tobytes() == again.tobytes()
    assert image.tobytes() != other.tobytes()
    assert colours and all(len(c) == 3 for c in colours)
    # clutter, not a flat colour: real images have edges everywhere
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    assert float(np.abs(np.diff(grey, axis=1)).mean()) > 0.5


@pytest.mark.parametrize("kind", clutter.NEGATIVES)
def test_hard_negatives_are_drawn_shapes_of_about_their_extent(kind: str) -> None:
    rng = np.random.default_rng(3)
    points = clutter.negative_shape(kind, 100.0, 100.0, 80.0, rng)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    extent = max(max(xs) - min(xs), max(ys) - min(ys))
    assert 30 <= extent <= 90
    drawn = _draw_mask(Shape(kind, points), (200, 200))
    assert drawn is not None and drawn[0].getbbox() is not None


def test_no_hard_negative_is_a_spec_class() -> None:
    assert not set(clutter.NEGATIVES) & set(OBJECT_CLASSES)
    # SPEC.md: "a round disc or ring" is a circle, so rings are positives, not negatives
    assert "ring" not in clutter.NEGATIVES


def test_a_cluttered_sample_is_reproducible_for_its_seed_and_index() -> None:
    first = SceneGenerator(seed=9, world=clutter.TRAINING_WORLD).sample(4)
    again = SceneGenerator(seed=9, world=clutter.TRAINING_WORLD).sample(4)
    assert first.image.tobytes() == again.image.tobytes()
    assert (first.boxes, first.labels, first.scene) == (again.boxes, again.labels, again.scene)
    other = SceneGenerator(seed=9, world=clutter.TRAINING_WORLD).sample(5)
    assert other.image.tobytes() != first.image.tobytes()


def test_without_a_world_the_stream_is_the_plain_generators() -> None:
    plain = SceneGenerator(seed=2).sample(7)
    with_nothing = SceneGenerator(seed=2, world=None, clutter_rate=0.5).sample(7)
    assert plain.image.tobytes() == with_nothing.image.tobytes()


def test_boxes_are_tight_on_what_is_drawn_after_perspective_and_wobble() -> None:
    world = clutter.World(damage=clutter.GEOMETRIC, damage_rate=1.0, foreground=0)
    generator = SceneGenerator(seed=21, world=world)
    checked = 0
    for index in range(12):
        sample = generator.sample(index)
        assert len(sample.boxes) == len(sample.shapes) == len(sample.labels)
        for box, shape in zip(sample.boxes, sample.shapes, strict=True):
            drawn = _draw_mask(shape, sample.image.size)
            assert drawn is not None
            mask, left, top = drawn
            bbox = mask.getbbox()
            assert bbox is not None
            assert box == (bbox[0] + left, bbox[1] + top, bbox[2] + left, bbox[3] + top)
            checked += 1
        # the outlines really were bent: no shape keeps a straight-edged few-point polygon
        assert all(len(s.points) >= 24 for s in sample.shapes)
    assert checked > 30


def test_hard_negatives_are_drawn_but_never_labelled() -> None:
    world = clutter.World(negatives=5, damage=(), foreground=0, backgrounds=())
    generator = SceneGenerator(seed=33, world=world)
    negatives = 0
    for index in range(30):
        sample = generator.sample(index)
        assert set(sample.labels) <= set(OBJECT_CLASSES)
        assert len(sample.labels) == len(sample.boxes)
        for negative in sample.negatives:
            assert negative.label in clutter.NEGATIVES
            drawn = _draw_mask(negative, sample.image.size)
            assert drawn is not None
            mask, left, top = drawn
            x1, y1, x2, y2 = mask.getbbox() or (0, 0, 0, 0)
            box = (x1 + left, y1 + top, x2 + left, y2 + top)
            assert box not in sample.boxes
            # beside the labelled shapes, never on them: nothing there needs a label
            for bx1, by1, bx2, by2 in sample.boxes:
                assert box[2] <= bx1 or bx2 <= box[0] or box[3] <= by1 or by2 <= box[1]
            # never so small that it could pass for a primitive
            short = min(sample.image.size)
            extent = max(box[2] - box[0], box[3] - box[1])
            assert extent >= 0.9 * clutter.negative_min_extent(negative.label, short)
            # and really drawn, in its own colour where its mask is full
            ys, xs = np.nonzero(np.asarray(mask) == 255)
            assert len(xs)
            pixel = sample.image.getpixel((int(xs[0]) + left, int(ys[0]) + top))
            assert pixel == negative.colour
        negatives += len(sample.negatives)
    assert negatives >= 30


def test_an_enlarged_image_brings_its_boxes_along() -> None:
    world = clutter.World(damage=("enlarge",), damage_rate=3.0, backgrounds=(), negatives=0)
    sample = SceneGenerator(seed=4, world=world).sample(0)
    assert max(sample.image.size) >= 1000
    plain = SceneGenerator(seed=4, world=clutter.World(damage=(), backgrounds=(), negatives=0))
    small = plain.sample(0)
    scale = sample.image.width / small.image.width
    assert small.labels == sample.labels
    for big, little in zip(sample.boxes, small.boxes, strict=True):
        assert all(
            math.isclose(b, v * scale, rel_tol=0.02, abs_tol=1)
            for b, v in zip(big, little, strict=True)
        )


@pytest.mark.parametrize("kind", sorted(clutter.PHOTOMETRIC))
def test_photometric_damage_is_reproducible(kind: str) -> None:
    image = SceneGenerator(seed=1).sample(0).image
    damage = clutter.PHOTOMETRIC[kind]
    first = damage(image, np.random.default_rng(8))
    again = damage(image, np.random.default_rng(8))
    assert first.mode == "RGB" and first.tobytes() == again.tobytes()
    if kind != "enlarge":
        assert first.size == image.size


def test_training_never_draws_the_held_out_families() -> None:
    world = clutter.TRAINING_WORLD
    assert not set(world.backgrounds) & set(clutter.HELDOUT_BACKGROUNDS)
    assert not set(world.damage) & set(clutter.HELDOUT_DAMAGE)
    for index in range(200):
        rng = np.random.default_rng([0, index])
        assert not world.applies("shading", rng)
    held_out = robustness.FACTORS["all_heldout"]
    assert held_out is not None
    assert set(clutter.HELDOUT_BACKGROUNDS) <= set(held_out.backgrounds)
    assert set(clutter.HELDOUT_DAMAGE) <= set(held_out.damage)


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown clutter families: moss"):
        clutter.World(backgrounds=("moss",))
    with pytest.raises(ValueError, match="unknown robustness factor"):
        robustness.factor_items("fog", count=1)


def test_robustness_sets_are_fixed_and_differ_by_factor() -> None:
    first = robustness.factor_items("heldout_background", count=3, seed=1)
    again = robustness.factor_items("heldout_background", count=3, seed=1)
    clean = robustness.factor_items("clean", count=3, seed=1)
    assert [i.image.tobytes() for i in first] == [i.image.tobytes() for i in again]
    assert [i.image.tobytes() for i in first] != [i.image.tobytes() for i in clean]
    assert all(0 <= item.scene < len(SCENE_CLASSES) for item in first)


def test_operating_point_counts_found_and_false_detections() -> None:
    truths = [ImageTruth(100, 100, [(10, 10, 50, 50), (60, 60, 90, 90)], [0, 1])]
    predictions = [
        ImagePrediction(
            boxes=[(11, 11, 50, 50), (60, 60, 90, 90), (0, 0, 5, 5), (10, 10, 50, 50)],
            scores=[0.9, 0.3, 0.8, 0.7],
            labels=[0, 1, 2, 0],
        )
    ]
    point = operating_point(truths, predictions, threshold=0.5)
    # found: the first box; the second scores too low; two false: a stray and a duplicate
    assert point.recall == 0.5
    assert point.false_per_image == 2
    assert math.isclose(point.precision, 1 / 3)


def test_translucent_shapes_blend_with_what_lies_behind() -> None:
    background = Image.new("RGB", (60, 60), (0, 0, 0))
    shape = Shape("square", [(10, 10), (50, 10), (50, 50), (10, 50)], (200, 200, 200), 0, 0.5)
    image, [box] = render([shape], background)
    assert box == (10.0, 10.0, 51.0, 51.0)
    assert image.getpixel((30, 30)) == (100, 100, 100)
