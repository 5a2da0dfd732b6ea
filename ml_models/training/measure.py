"""Measuring deployed models end to end: the same ``Analyzer`` that serves predictions."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ml_models.inference.predictor import Analyzer
from ml_models.training.data import LabelledImage
from ml_models.training.evaluation import (
    ImagePrediction,
    ImageTruth,
    coco_detection_metrics,
    operating_point,
    plot_confusion,
    plot_per_class_ap,
    scene_metrics,
)

EVALUATION_THRESHOLD = 0.01  # low, so that mAP can rank nearly every detection
GALLERY_THRESHOLD = 0.5  # the score from which the gallery draws a box


def measure(
    analyzer: Analyzer,
    items: Sequence[LabelledImage],
    *,
    object_classes: Sequence[str],
    scene_classes: Sequence[str],
    plots_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Detection mAP and scene accuracy of ``analyzer`` on labelled images.

    ``object_classes``/``scene_classes`` name the labels' indices; predictions are matched
    by class name, so a model with a different class order is measured correctly.
    Plots (per-class AP, confusion matrix) are written to ``plots_dir`` when given.
    """
    truths: list[ImageTruth] = []
    predictions: list[ImagePrediction] = []
    scene_true: list[int] = []
    scene_pred: list[int] = []
    progress_bar = tqdm(total=len(items), disable=not progress, file=sys.stderr, desc="evaluate")
    batch = analyzer.batch_size
    for start in range(0, len(items), batch):
        chunk = list(items[start : start + batch])
        results = analyzer.analyze([item.image for item in chunk])
        for item, result in zip(chunk, results, strict=True):
            if item.has_boxes and analyzer.detector is not None:
                truths.append(
                    ImageTruth(item.image.width, item.image.height, item.boxes, item.labels)
                )
                known = [obj for obj in result.objects if obj["label"] in object_classes]
                predictions.append(
                    ImagePrediction(
                        boxes=[tuple(obj["box"]) for obj in known],
                        scores=[obj["score"] for obj in known],
                        labels=[list(object_classes).index(obj["label"]) for obj in known],
                    )
                )
            if item.scene >= 0 and result.scene is not None:
                scene_true.append(item.scene)
                label = result.scene["label"]
                scene_pred.append(
                    list(scene_classes).index(label) if label in scene_classes else -1
                )
        progress_bar.update(len(chunk))
    progress_bar.close()
    report: dict[str, Any] = {"images": len(items)}
    if truths:
        detection = coco_detection_metrics(truths, predictions, object_classes)
        report["detection"] = asdict(detection)
        report["detection"]["at_threshold"] = asdict(
            operating_point(truths, predictions, threshold=GALLERY_THRESHOLD)
        )
        if plots_dir is not None:
            report["detection"]["plot"] = str(
                plot_per_class_ap(detection, plots_dir / "per_class_ap.png")
            )
    if scene_true:
        # a label outside the evaluated vocabulary counts as wrong
        valid = [(t, p) for t, p in zip(scene_true, scene_pred, strict=True) if p >= 0]
        scenes = scene_metrics([t for t, _ in valid], [p for _, p in valid], scene_classes)
        scenes.accuracy = sum(1 for t, p in valid if t == p) / len(scene_true)
        report["scene"] = asdict(scenes)
        if plots_dir is not None:
            report["scene"]["plot"] = str(
                plot_confusion(scenes, scene_classes, plots_dir / "confusion.png")
            )
    return report
