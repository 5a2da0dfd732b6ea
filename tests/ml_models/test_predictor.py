"""Inference system: one forward pass for a shared backbone, cached weights, SPEC fields."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from PIL import Image

from ml_models.inference.decode import Detections
from ml_models.inference.network import ShapeNet
from ml_models.inference.predictor import Analyzer, ModelRegistry, batch_objects, batch_scenes
from ml_models.inference.runner import run_shapenet
from ml_models.training.synthetic import SceneGenerator
from tests.ml_models.conftest import DEFAULT_MODELS, shipped_specs


def test_weights_load_once_per_file() -> None:
    detector, scene = shipped_specs()
    registry = ModelRegistry()
    assert registry.get(detector) is registry.get(scene)  # one module for both heads
    assert registry.get(replace(detector, name="again")) is registry.get(detector)


def test_spec_fields_and_order(shipped_analyzer: Analyzer) -> None:
    assert shipped_analyzer.shared_pass
    images = [SceneGenerator(seed=5).sample(i).image for i in range(3)] + [
        Image.new("RGB", (700, 90), "white")
    ]
    results = shipped_analyzer.analyze(images)
    for image, result in zip(images, results, strict=True):
        data = result.as_dict(file="x.png")
        assert list(data) == ["file", "width", "height", "scene", "objects", "models"]
        assert (data["width"], data["height"]) == image.size
        assert data["models"] == DEFAULT_MODELS
        scene = data["scene"]
        assert (
            scene["label"] == scene["top"][0]["label"]
            and scene["score"] == scene["top"][0]["score"]
        )
        assert [t["score"] for t in scene["top"]] == sorted(
            (t["score"] for t in scene["top"]), reverse=True
        )
        scores = [obj["score"] for obj in data["objects"]]
        assert scores == sorted(scores, reverse=True) and all(0.05 <= s <= 1 for s in scores)
        for obj in data["objects"]:
            x1, y1, x2, y2 = obj["box"]
            assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height


def test_a_stream_of_batches_gives_each_image_its_own_answer() -> None:
    """``analyze`` pipelines its batches (the next one is letterboxed while one runs):
    every image still gets exactly what analysing it alone gives, in order."""
    detector, scene = shipped_specs()
    images = [SceneGenerator(seed=8).sample(i).image for i in range(7)]
    streamed = Analyzer(detector=detector, scene=scene, batch_size=3).analyze(images)
    alone = Analyzer(detector=detector, scene=scene, batch_size=1)
    assert len(streamed) == len(images)
    for image, result in zip(images, streamed, strict=True):
        expected = alone.analyze([image])[0]
        assert result.scene == expected.scene
        assert [o["label"] for o in result.objects] == [o["label"] for o in expected.objects]
        for got, want in zip(result.objects, expected.objects, strict=True):
            assert got["box"] == pytest.approx(want["box"], abs=0.5)
    assert not Analyzer(detector=detector, scene=scene).analyze([])


def test_images_are_batched_by_canvas_and_answered_in_their_order() -> None:
    """Wide and tall images arrive interleaved: each canvas shape is batched on its own
    (``_chunks``), so the network runs 640x480 photos at 384x288, and the answers come
    back in the order the images were given, each what it gets alone."""
    detector, scene = shipped_specs()
    samples = [SceneGenerator(seed=9).sample(i).image for i in range(7)]
    images = [
        image.resize((640, 480) if i % 2 == 0 else (300, 500)) for i, image in enumerate(samples)
    ]
    analyzer = Analyzer(detector=detector, scene=scene, batch_size=3)
    chunks = analyzer._chunks(images)  # pylint: disable=protected-access
    assert [chunk.indices for chunk in chunks] == [[0, 2, 4], [6], [1, 3, 5]]
    shapes = []
    for chunk in analyzer._prepared(chunks):  # pylint: disable=protected-access
        assert chunk.prepared is not None
        shapes.append(tuple(chunk.prepared.inputs.shape[2:]))
    # (H, W): 384x288 for the photos, and for the 230x384 portraits (3/4 of the side)
    assert shapes == [(288, 384), (288, 384), (384, 288)]
    streamed = analyzer.analyze(images)
    alone = Analyzer(detector=detector, scene=scene, batch_size=1)
    for image, result in zip(images, streamed, strict=True):
        expected = alone.analyze([image])[0]
        assert (result.width, result.height) == image.size
        assert result.scene == expected.scene
        assert [o["label"] for o in result.objects] == [o["label"] for o in expected.objects]
        for got, want in zip(result.objects, expected.objects, strict=True):
            assert got["box"] == pytest.approx(want["box"], abs=0.5)


def test_run_shapenet_gives_each_image_of_mixed_shapes_its_own_answer() -> None:
    """``run_shapenet`` (training's validation, a separate scene network) runs one pass
    per canvas shape too: a wide, a tall and a square image each get what they get alone."""
    detector, _ = shipped_specs()
    network = ModelRegistry().get(detector).module
    assert isinstance(network, ShapeNet)
    samples = [SceneGenerator(seed=13).sample(i).image for i in range(3)]
    images = [
        image.resize(size)
        for image, size in zip(samples, [(640, 480), (300, 500), (400, 400)], strict=True)
    ]
    together = run_shapenet(network, images)
    assert together.scene_probs is not None and together.scene_probs.shape[0] == 3
    for index, image in enumerate(images):
        alone = run_shapenet(network, [image])
        assert alone.scene_probs is not None
        # batching may round differently; another canvas moves the scene by ~5e-4
        scenes = (together.scene_probs[index], alone.scene_probs[0])
        torch.testing.assert_close(*scenes, rtol=0.0, atol=1e-4)
        boxes = (together.detections[index].boxes, alone.detections[0].boxes)
        torch.testing.assert_close(*boxes, rtol=0.0, atol=0.05)
        assert torch.equal(together.detections[index].labels, alone.detections[0].labels)


def test_batch_json_rounds_like_python_and_keeps_each_images_objects() -> None:
    torch.manual_seed(4)
    detections = [
        Detections(
            boxes=torch.rand(n, 4) * 640, scores=torch.rand(n), labels=torch.randint(0, 3, (n,))
        )
        for n in (5, 0, 3)
    ]
    objects = batch_objects(detections, ["a", "b", "c"])
    assert [len(found) for found in objects] == [5, 0, 3]
    for found, det in zip(objects, detections, strict=True):
        for obj, box, score, label in zip(
            found, det.boxes.tolist(), det.scores.tolist(), det.labels.tolist(), strict=True
        ):
            assert obj == {
                "label": "abc"[label],
                "score": round(score, 4),
                "box": [round(v, 1) for v in box],
            }
    probs = torch.softmax(torch.randn(2, 4), dim=1)
    scenes = batch_scenes(probs, ["w", "x", "y", "z"])
    for scene, row in zip(scenes, probs.tolist(), strict=True):
        ranked = sorted(range(4), key=row.__getitem__, reverse=True)[:3]
        assert scene["top"] == [{"label": "wxyz"[i], "score": round(row[i], 4)} for i in ranked]
        assert (scene["label"], scene["score"]) == (
            scene["top"][0]["label"],
            scene["top"][0]["score"],
        )
    assert not batch_objects([], ["a"])
