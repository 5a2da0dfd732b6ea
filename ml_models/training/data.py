"""Streaming training data: synthetic samples (or a user's labelled set) as model targets."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from ml_models.inference.preprocess import letterbox
from ml_models.training.clutter import TRAINING_WORLD
from ml_models.training.synthetic import SceneGenerator

GAUSSIAN_ALPHA = 0.54  # TTFNet: gaussian spread relative to the box size


@dataclass
class LabelledImage:
    """One training/evaluation image: boxes in its own pixels, optional scene label."""

    image: Image.Image
    boxes: list[tuple[float, float, float, float]]
    labels: list[int]
    scene: int  # -1: no scene label
    has_boxes: bool = True  # False: an image with a scene label only


def encode_targets(  # pylint: disable=too-many-locals
    boxes: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    size: int,
    stride: int,
    box_per_class: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TTFNet-style targets for boxes given in model-input pixels.

    Returns the class heatmap (C, F, F) with a gaussian of peak 1 at each box centre, the
    box each cell should regress (4, F, F) and the regression weight of each cell (F, F)
    (gaussian inside the box, summing to log(area) per box). Smaller boxes are written
    last, so they win cells that two boxes share. With ``box_per_class`` the last two
    are (C, 4, F, F) and (C, F, F): each class regresses its own boxes, so objects of
    different classes that share a centre (a traffic light and its middle lamp) keep
    their own boxes.
    """
    out = size // stride
    planes = num_classes if box_per_class else 1
    heatmap = np.zeros((num_classes, out, out), dtype=np.float32)
    reg_targets = np.zeros((planes, 4, out, out), dtype=np.float32)
    reg_weights = np.zeros((planes, out, out), dtype=np.float32)
    reg_target, reg_weight = (
        (reg_targets, reg_weights)
        if box_per_class
        else (
            reg_targets[0],
            reg_weights[0],
        )
    )
    if len(boxes) == 0:
        return heatmap, reg_target, reg_weight
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    grid = np.arange(out, dtype=np.float32)
    for i in np.argsort(-areas):
        x1, y1, x2, y2 = boxes[i] / stride
        w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
        cx = int(np.clip((x1 + x2) / 2, 0, out - 1))
        cy = int(np.clip((y1 + y2) / 2, 0, out - 1))
        sx, sy = max(GAUSSIAN_ALPHA * w / 6, 0.3), max(GAUSSIAN_ALPHA * h / 6, 0.3)
        gx = np.exp(-((grid - cx) ** 2) / (2 * sx * sx))
        gy = np.exp(-((grid - cy) ** 2) / (2 * sy * sy))
        gauss = gy[:, None] * gx[None, :]
        cls = int(labels[i])
        np.maximum(heatmap[cls], gauss, out=heatmap[cls])
        # regression cells: where the gaussian is meaningful and inside the box
        inside = np.zeros((out, out), dtype=bool)
        xa, xb = max(math.floor(x1), 0), min(math.ceil(x2), out)
        ya, yb = max(math.floor(y1), 0), min(math.ceil(y2), out)
        inside[ya:yb, xa:xb] = True
        region = inside & (gauss > 0.05)
        region[cy, cx] = True
        weights = gauss * region
        weights *= math.log(max(float(areas[i]), 2.0)) / weights.sum()
        plane = cls if box_per_class else 0
        reg_weights[plane][region] = weights[region]
        reg_targets[plane][:, region] = boxes[i][:, None]
    return heatmap, reg_target, reg_weight


def to_training_example(
    item: LabelledImage, *, num_classes: int, size: int, stride: int, box_per_class: bool = False
) -> dict[str, torch.Tensor]:
    """Letterbox an image and encode its targets as tensors."""
    boxed = letterbox(item.image, size)
    boxes = np.asarray(item.boxes, dtype=np.float32).reshape(-1, 4) * boxed.scale
    labels = np.asarray(item.labels, dtype=np.int64)
    heatmap, reg_target, reg_weight = encode_targets(
        boxes,
        labels,
        num_classes=num_classes,
        size=size,
        stride=stride,
        box_per_class=box_per_class,
    )
    return {
        "image": boxed.tensor,
        "heatmap": torch.from_numpy(heatmap),
        "reg_target": torch.from_numpy(reg_target),
        "reg_weight": torch.from_numpy(reg_weight),
        "scene": torch.tensor(item.scene, dtype=torch.int64),
        "has_boxes": torch.tensor(item.has_boxes),
    }


def synthetic_item(
    generator: SceneGenerator,
    index: int,
    object_classes: Sequence[str],
    scene_classes: Sequence[str],
) -> LabelledImage:
    """Sample ``index`` of a generator as class indices of the given vocabularies."""
    sample = generator.sample(index)
    return LabelledImage(
        image=sample.image,
        boxes=sample.boxes,
        labels=[object_classes.index(label) for label in sample.labels],
        scene=scene_classes.index(sample.scene) if sample.scene in scene_classes else -1,
    )


class SyntheticStream(IterableDataset[dict[str, torch.Tensor]]):  # pylint: disable=abstract-method
    """An endless, reproducible stream of synthetic training examples.

    Example ``n`` is always the generator's sample ``n``; workers interleave indices, and
    ``start`` skips the examples a resumed run has already seen. ``clutter_rate``: the
    share of examples drawn in ``clutter.TRAINING_WORLD`` (0: the plain generator).
    """

    def __init__(
        self,
        *,
        seed: int,
        object_classes: Sequence[str],
        scene_classes: Sequence[str],
        size: int,
        stride: int,
        start: int = 0,
        box_per_class: bool = False,
        clutter_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.generator = SceneGenerator(
            seed=seed,
            world=TRAINING_WORLD if clutter_rate > 0 else None,
            clutter_rate=clutter_rate,
        )
        self.box_per_class = box_per_class
        self.object_classes = list(object_classes)
        self.scene_classes = list(scene_classes)
        self.size = size
        self.stride = stride
        self.start = start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        index = self.start + worker
        while True:
            item = synthetic_item(self.generator, index, self.object_classes, self.scene_classes)
            yield to_training_example(
                item,
                num_classes=len(self.object_classes),
                size=self.size,
                stride=self.stride,
                box_per_class=self.box_per_class,
            )
            index += workers


class ListStream(IterableDataset[dict[str, torch.Tensor]]):  # pylint: disable=abstract-method
    """Endless shuffled passes over a user's labelled images (loaded lazily per item)."""

    def __init__(
        self,
        *,
        items: Sequence[LabelledImage],
        num_classes: int,
        size: int,
        stride: int,
        seed: int,
        start: int = 0,
        box_per_class: bool = False,
    ) -> None:
        super().__init__()
        self.items = list(items)
        self.box_per_class = box_per_class
        self.num_classes = num_classes
        self.size = size
        self.stride = stride
        self.seed = seed
        self.start = start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        index = self.start + worker
        count = len(self.items)
        while True:
            epoch, pos = divmod(index, count)
            order = np.random.default_rng([self.seed, epoch]).permutation(count)
            yield to_training_example(
                self.items[int(order[pos])],
                num_classes=self.num_classes,
                size=self.size,
                stride=self.stride,
                box_per_class=self.box_per_class,
            )
            index += workers
