"""Metrics: COCO mAP via pycocotools, scene accuracy and confusion matrix, and plots."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ImageTruth:
    """Ground truth of one evaluation image (boxes in its pixels)."""

    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]
    labels: list[int]


@dataclass
class ImagePrediction:
    """Detections of one evaluation image (boxes in its pixels)."""

    boxes: list[tuple[float, float, float, float]]
    scores: list[float]
    labels: list[int]


@dataclass
class DetectionMetrics:
    """COCO-style box metrics."""

    map_50: float
    map_50_95: float
    per_class_ap50: dict[str, float] = field(default_factory=dict)
    per_class_ap: dict[str, float] = field(default_factory=dict)


def coco_detection_metrics(
    truths: Sequence[ImageTruth], predictions: Sequence[ImagePrediction], class_names: Sequence[str]
) -> DetectionMetrics:
    """mAP@0.5 and mAP@0.5:0.95 with pycocotools' COCO definition (101-point, maxDets 100).

    Classes without any ground truth are left out of the mean, as COCO does.
    """
    from pycocotools.coco import COCO  # pylint: disable=import-outside-toplevel
    from pycocotools.cocoeval import COCOeval  # pylint: disable=import-outside-toplevel

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image_id, (truth, pred) in enumerate(zip(truths, predictions, strict=True), start=1):
        images.append({"id": image_id, "width": truth.width, "height": truth.height})
        for box, label in zip(truth.boxes, truth.labels, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        for box, score, label in zip(pred.boxes, pred.scores, pred.labels, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    if not annotations:
        return DetectionMetrics(map_50=0.0, map_50_95=0.0)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "info": {},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        if not results:
            return DetectionMetrics(map_50=0.0, map_50_95=0.0)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # (T iou, R recall, K class, A area, M maxdets)
    per_class_ap50: dict[str, float] = {}
    per_class_ap: dict[str, float] = {}
    for k, name in enumerate(class_names):
        all_iou = precision[:, :, k, 0, -1]
        at_50 = precision[0, :, k, 0, -1]
        if (all_iou > -1).any():
            per_class_ap[name] = float(np.mean(all_iou[all_iou > -1]))
            per_class_ap50[name] = float(np.mean(at_50[at_50 > -1])) if (at_50 > -1).any() else 0.0
    return DetectionMetrics(
        map_50=float(evaluator.stats[1]),
        map_50_95=float(evaluator.stats[0]),
        per_class_ap50=per_class_ap50,
        per_class_ap=per_class_ap,
    )


@dataclass
class OperatingPoint:
    """What a user sees at one score threshold: the share of shapes found (IoU >= 0.5,
    right class), the share of detections that are right, and wrong ones per image."""

    threshold: float
    recall: float
    precision: float
    false_per_image: float


def _iou(box: Sequence[float], others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def operating_point(
    truths: Sequence[ImageTruth],
    predictions: Sequence[ImagePrediction],
    *,
    threshold: float = 0.5,
    iou: float = 0.5,
) -> OperatingPoint:
    """Recall, precision and false detections per image of the detections scoring at
    least ``threshold``; each detection, best score first, takes the unmatched truth of
    its class it overlaps most, if that overlap reaches ``iou`` (COCO's greedy match)."""
    found = false = total = 0
    for truth, pred in zip(truths, predictions, strict=True):
        total += len(truth.boxes)
        gt_boxes = np.asarray(truth.boxes, dtype=np.float64).reshape(-1, 4)
        gt_labels = np.asarray(truth.labels)
        unmatched = np.ones(len(gt_boxes), dtype=bool)
        for k in np.argsort(-np.asarray(pred.scores, dtype=np.float64)):
            if pred.scores[k] < threshold:
                continue
            candidates = unmatched & (gt_labels == pred.labels[k])
            if candidates.any():
                overlaps = np.where(candidates, _iou(pred.boxes[k], gt_boxes), 0.0)
                best = int(overlaps.argmax())
                if overlaps[best] >= iou:
                    unmatched[best] = False
                    found += 1
                    continue
            false += 1
    reported = found + false
    return OperatingPoint(
        threshold=threshold,
        recall=found / total if total else 1.0,
        precision=found / reported if reported else 1.0,
        false_per_image=false / len(truths) if truths else 0.0,
    )


@dataclass
class SceneMetrics:
    """Top-1 accuracy and the confusion matrix (rows: truth, columns: prediction)."""

    accuracy: float
    confusion: list[list[int]]
    per_class_accuracy: dict[str, float]


def scene_metrics(
    truth: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]
) -> SceneMetrics:
    """Accuracy and confusion matrix of scene labels given as class indices."""
    n = len(class_names)
    confusion = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[t, p] += 1
    total = int(confusion.sum())
    accuracy = float(np.trace(confusion) / total) if total else 0.0
    per_class = {
        name: float(confusion[i, i] / confusion[i].sum())
        for i, name in enumerate(class_names)
        if confusion[i].sum()
    }
    return SceneMetrics(
        accuracy=accuracy, confusion=confusion.tolist(), per_class_accuracy=per_class
    )


def plot_per_class_ap(metrics: DetectionMetrics, path: Path) -> Path:
    """Bar chart of per-class AP@0.5 and AP@0.5:0.95, saved as PNG."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    names = list(metrics.per_class_ap)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.bar(x - 0.2, [metrics.per_class_ap50[n] for n in names], width=0.4, label="AP@0.5")
    ax.bar(x + 0.2, [metrics.per_class_ap[n] for n in names], width=0.4, label="AP@0.5:0.95")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Per-class AP (mAP@0.5 {metrics.map_50:.3f}, mAP@0.5:0.95 {metrics.map_50_95:.3f})"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(metrics: SceneMetrics, class_names: Sequence[str], path: Path) -> Path:
    """Confusion matrix heat map with counts, saved as PNG."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    matrix = np.asarray(metrics.confusion)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
    ax.set_title(f"Scene confusion (accuracy {metrics.accuracy:.3f})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
