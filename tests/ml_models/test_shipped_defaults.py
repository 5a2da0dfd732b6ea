"""The shipped default weights find the shapes of generated images, upright or not."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torchvision.ops import box_iou

from ml_models.inference.network import ShapeNet
from ml_models.inference.predictor import Analyzer
from ml_models.inference.preprocess import decode_image, load_image
from ml_models.inference.runner import finish_shapenet, launch_shapenet, prepare_shapenet
from ml_models.training.synthetic import SceneGenerator
from tests.ml_models.conftest import WEIGHTS_DIR

SEED = 424242  # neither the training stream (0) nor evaluate's default (12345)


def _matched(
    objects: list[dict[str, Any]], boxes: Sequence[Sequence[float]], labels: Sequence[str]
) -> int:
    """Ground-truth shapes found with the right label at IoU >= 0.7 (each detection used once)."""
    found, used = 0, set[int]()
    for box, label in zip(boxes, labels, strict=True):
        for index, obj in enumerate(objects):
            if index in used or obj["label"] != label or float(obj["score"]) < 0.3:
                continue
            iou = box_iou(torch.tensor([box]), torch.tensor([obj["box"]]))[0, 0]
            if iou >= 0.7:
                used.add(index)
                found += 1
                break
    return found


def test_weights_are_small_fp16_safetensors() -> None:
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir())
    assert total <= 40 * 1024 * 1024


def test_shapes_and_scenes_of_generated_images(shipped_analyzer: Analyzer) -> None:
    generator = SceneGenerator(seed=SEED)
    samples = [generator.sample(i) for i in range(14)]
    results = shipped_analyzer.analyze([s.image for s in samples])
    total = sum(len(s.boxes) for s in samples)
    found = sum(
        _matched(r.objects, s.boxes, s.labels) for r, s in zip(results, samples, strict=True)
    )
    scenes = sum(
        int(r.scene is not None and r.scene["label"] == s.scene)
        for r, s in zip(results, samples, strict=True)
    )
    assert found / total >= 0.8, f"{found} of {total} shapes found"
    assert scenes >= 12, f"{scenes} of {len(samples)} scenes right"


def test_boxes_land_on_the_shapes_of_an_exif_rotated_upload(shipped_analyzer: Analyzer) -> None:
    sample = SceneGenerator(seed=SEED).sample(6)  # a car: wheels on a body, a covered edge
    upright = sample.image
    # A camera stores the pixels turned and says "rotate 90 clockwise" (orientation 6).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    image = load_image(buffer.getvalue())
    assert image.size == upright.size
    [result] = shipped_analyzer.analyze([image])
    assert _matched(result.objects, sample.boxes, sample.labels) >= 0.8 * len(sample.boxes)


def test_a_large_rotated_photo_is_decoded_small_and_boxes_come_back_full_size(
    shipped_analyzer: Analyzer,
) -> None:
    sample = SceneGenerator(seed=SEED).sample(6)
    zoom = 5  # a camera-sized photo: decoded at 1/4 or 1/8 scale by the JPEG decoder
    upright = sample.image.resize((sample.image.width * zoom, sample.image.height * zoom))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(
        buffer, format="JPEG", quality=90, exif=exif.tobytes()
    )
    decoded = decode_image(buffer.getvalue(), fit=shipped_analyzer.input_size)
    assert decoded.reduction >= 4
    assert (decoded.width, decoded.height) == upright.size
    [result] = shipped_analyzer.analyze([decoded])
    assert (result.width, result.height) == upright.size
    boxes = [[v * zoom for v in box] for box in sample.boxes]
    assert _matched(result.objects, boxes, sample.labels) >= 0.8 * len(sample.boxes)


def test_a_tight_canvas_finds_what_the_square_canvas_finds(shipped_analyzer: Analyzer) -> None:
    """The network only sees as much padding as a batch needs (``preprocess.canvas_shape``),
    which it was not trained on: one wide or tall image per canvas gives the same scenes
    and the same confident shapes as the square canvas."""
    assert shipped_analyzer.detector is not None
    network = shipped_analyzer.registry.get(shipped_analyzer.detector).module
    assert isinstance(network, ShapeNet)
    generator = SceneGenerator(seed=SEED)
    images = [s.image for s in (generator.sample(i) for i in range(60))]
    images = [image for image in images if max(image.size) >= 4 / 3 * min(image.size)][:8]
    assert len(images) == 8  # wide or tall enough for a smaller canvas
    for image in images:
        square_input = prepare_shapenet(network, [image], tight=False)
        tight_input = prepare_shapenet(network, [image], tight=True)
        assert square_input.inputs.shape[2] == square_input.inputs.shape[3]
        assert tight_input.inputs.shape[2:].numel() < square_input.inputs.shape[2:].numel()
        square, tight_output = (
            finish_shapenet(launch_shapenet(prepared), score_threshold=0.2)
            for prepared in (square_input, tight_input)
        )
        assert square.scene_probs is not None and tight_output.scene_probs is not None
        assert int(square.scene_probs.argmax()) == int(tight_output.scene_probs.argmax())
        one, other = square.detections[0], tight_output.detections[0]
        assert bool((one.scores >= 0.4).any())
        for found, twins in ((one, other), (other, one)):  # each confident shape, both ways
            confident = found.scores >= 0.4
            overlaps = box_iou(found.boxes[confident], twins.boxes)
            same_label = found.labels[confident].view(-1, 1) == twins.labels.view(1, -1)
            assert bool(((overlaps >= 0.9) & same_label).any(dim=1).all())
