"""The shipped default among clutter: shapes found over dense procedural clutter, hard
negatives not reported as primitives, and a card that records how it was made."""

# pytest fixtures are named by the tests that use them
# pylint: disable=redefined-outer-name

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from django.core.management import call_command
from PIL import Image
from torchvision.ops import box_iou

from ml_models.inference.predictor import Analyzer
from ml_models.training import clutter, robustness
from ml_models.training.synthetic import SceneGenerator, Shape, render
from tests.ml_models.conftest import DEFAULT_CARD

SEED = 515151  # no training, validation or robustness stream uses it
# dense clutter of every family (the held-out one too), hard negatives beside the
# shapes and strokes in front of them; no photometric damage
DENSE = clutter.World(
    backgrounds=tuple(clutter.BACKGROUNDS), negatives=5, foreground=6, damage=(), plain_rate=0.0
)


def _found(
    objects: list[dict[str, Any]], boxes: Sequence[Sequence[float]], labels: Sequence[str]
) -> tuple[int, int]:
    """(shapes found, false detections) at the gallery's 0.5, IoU >= 0.5, right class."""
    shown = [obj for obj in objects if float(obj["score"]) >= 0.5]
    used: set[int] = set()
    for box, label in zip(boxes, labels, strict=True):
        for index, obj in enumerate(shown):
            if index in used or obj["label"] != label:
                continue
            if box_iou(torch.tensor([box]), torch.tensor([obj["box"]]))[0, 0] >= 0.5:
                used.add(index)
                break
    return len(used), len(shown) - len(used)


def test_shapes_and_scenes_over_dense_clutter(shipped_analyzer: Analyzer) -> None:
    generator = SceneGenerator(seed=SEED, world=DENSE)
    samples = [generator.sample(i) for i in range(14)]
    results = shipped_analyzer.analyze([s.image for s in samples])
    counts = [_found(r.objects, s.boxes, s.labels) for r, s in zip(results, samples, strict=True)]
    total = sum(len(s.boxes) for s in samples)
    found, false = sum(c[0] for c in counts), sum(c[1] for c in counts)
    scenes = sum(
        int(r.scene is not None and r.scene["label"] == s.scene)
        for r, s in zip(results, samples, strict=True)
    )
    # shapenet-v6: 63 of 81 found, 0.78 (it is cautious over clutter: most of the rest
    # score 0.3-0.5); shapenet-v5 found 68 but added dozens of false detections
    assert found / total >= 0.75, f"{found} of {total} shapes found"
    assert false <= 7, f"{false} false detections on {len(samples)} images"
    assert scenes >= 13, f"{scenes} of {len(samples)} scenes right"


@pytest.mark.django_db
def test_analyze_finds_a_house_drawn_over_dense_clutter(tmp_path: Path) -> None:
    """End to end through ``manage.py analyze --json``: a JPEG of a house composition
    over dense dead leaves, among hard negatives and strokes."""
    world = clutter.World(
        backgrounds=("dead_leaves",), negatives=5, foreground=6, damage=("jpeg",), jpeg_rate=1.0
    )
    generator = SceneGenerator(seed=SEED + 1, world=world)
    sample = next(
        s for s in map(generator.sample, range(100)) if s.scene == "house" and s.negatives
    )
    path = tmp_path / "house.jpg"
    sample.image.save(path, quality=85)
    out = io.StringIO()
    call_command("analyze", str(path), "--json", stdout=out)
    result = json.loads(out.getvalue().splitlines()[0])
    assert result["scene"]["label"] == "house"
    found, false = _found(result["objects"], sample.boxes, sample.labels)
    assert found >= 2 and found >= len(sample.boxes) - 1, f"{found} of {len(sample.boxes)} found"
    assert false == 0, "nothing among the clutter and the negatives is taken for a primitive"


def _negatives_on_plain_backgrounds() -> tuple[list[Image.Image], list[str]]:
    rng = np.random.default_rng(77)
    images, kinds = [], []
    for kind in clutter.NEGATIVES:
        for k in range(6):
            background = Image.new(
                "RGB", (320, 320), tuple(int(v) for v in rng.integers(150, 256, 3))
            )
            colour = (
                int(rng.integers(0, 100)),
                int(rng.integers(0, 100)),
                int(rng.integers(0, 100)),
            )
            points = clutter.negative_shape(kind, 160, 160, float(rng.uniform(40, 200)), rng)
            image, _ = render([Shape(kind, points, colour, 0 if k % 2 == 0 else 3)], background)
            images.append(image)
            kinds.append(kind)
    return images, kinds


def test_shapes_outside_the_spec_are_not_reported(shipped_analyzer: Analyzer) -> None:
    images, kinds = _negatives_on_plain_backgrounds()
    results = shipped_analyzer.analyze(images)
    reported = [
        kind
        for kind, result in zip(kinds, results, strict=True)
        if any(float(obj["score"]) >= 0.5 for obj in result.objects)
    ]
    # shapenet-v5 reported 23 of these 54 (arrows as rectangles, heptagons and octagons
    # as hexagons, irregular polygons as squares, sectors as ellipses)
    assert len(reported) <= 5, f"reported as primitives: {reported}"


def test_the_default_card_records_its_data_run_and_both_evaluations() -> None:
    card = json.loads(DEFAULT_CARD.read_text(encoding="utf-8"))
    training = card["training"]
    assert training["command"].startswith("python -m ml_models.training.train ")
    assert "--clutter-rate" in training["command"]
    assert isinstance(training["seed"], int)
    assert training["duration_s"] > 0 and training["images_seen"] > 0 and training["hardware"]
    assert "cluttered world" in training["data"]
    metrics = card["metrics"]
    clean = metrics["evaluation"]
    assert clean["command"] == "python manage.py evaluate --count 500 --seed 12345"
    assert clean["images"] == 500
    assert metrics["heldout"]["detection"]["map_50"] >= 0.95
    robust = metrics["robustness"]
    assert robust["command"].startswith("python manage.py evaluate --robustness")
    assert list(robust["factors"]) == list(robustness.FACTORS)
    for factor in robust["factors"].values():
        assert factor["images"] == robust["count_per_factor"]
        assert 0 <= factor["detection"]["map_50_95"] <= factor["detection"]["map_50"] <= 1
        assert 0 <= factor["scene"]["accuracy"] <= 1
    assert card["parent"]["weights"] == "shapenet-v5.safetensors"
