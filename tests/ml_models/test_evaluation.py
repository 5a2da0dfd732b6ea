"""Metrics against hand-computed cases (COCO definitions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_models.training.evaluation import (
    ImagePrediction,
    ImageTruth,
    coco_detection_metrics,
    plot_confusion,
    plot_per_class_ap,
    scene_metrics,
)

CLASSES = ["circle", "square"]


def test_perfect_detections_score_one() -> None:
    truth = ImageTruth(100, 100, [(10, 10, 50, 50), (60, 60, 90, 95)], [0, 1])
    pred = ImagePrediction([(10, 10, 50, 50), (60, 60, 90, 95)], [0.9, 0.8], [0, 1])
    metrics = coco_detection_metrics([truth], [pred], CLASSES)
    assert metrics.map_50 == pytest.approx(1.0)
    assert metrics.map_50_95 == pytest.approx(1.0)


def test_loose_box_counts_only_at_low_iou_thresholds() -> None:
    # IoU 40*40 / (40*40 + 40*25) = 0.615: a hit at thresholds 0.50, 0.55 and 0.60 only
    truth = ImageTruth(200, 200, [(10, 10, 50, 50)], [0])
    pred = ImagePrediction([(10, 10, 75, 50)], [0.9], [0])
    metrics = coco_detection_metrics([truth], [pred], CLASSES)
    assert metrics.map_50 == pytest.approx(1.0)
    assert metrics.map_50_95 == pytest.approx(0.3)


def test_half_the_objects_found() -> None:
    # recall reaches 0.5 at precision 1: 51 of the 101 recall points
    truth = ImageTruth(200, 200, [(10, 10, 50, 50), (100, 100, 150, 150)], [0, 0])
    pred = ImagePrediction([(10, 10, 50, 50)], [0.9], [0])
    metrics = coco_detection_metrics([truth], [pred], CLASSES)
    assert metrics.map_50 == pytest.approx(51 / 101)


def test_wrong_label_and_false_positive_ranking() -> None:
    truth = ImageTruth(200, 200, [(10, 10, 50, 50)], [0])
    # a confident false positive ranked above the hit halves precision at full recall
    pred = ImagePrediction([(100, 100, 150, 150), (10, 10, 50, 50)], [0.9, 0.5], [0, 0])
    assert coco_detection_metrics([truth], [pred], CLASSES).map_50 == pytest.approx(0.5)
    wrong = ImagePrediction([(10, 10, 50, 50)], [0.9], [1])
    assert coco_detection_metrics([truth], [wrong], CLASSES).map_50 == pytest.approx(0.0)


def test_scene_accuracy_and_confusion(tmp_path: Path) -> None:
    metrics = scene_metrics([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], ["house", "car", "tree"])
    assert metrics.accuracy == pytest.approx(3 / 5)
    assert metrics.confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert metrics.per_class_accuracy == {"house": 0.5, "car": 1.0, "tree": 0.5}
    path = plot_confusion(metrics, ["house", "car", "tree"], tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_class_plot(tmp_path: Path) -> None:
    truth = ImageTruth(100, 100, [(10, 10, 50, 50)], [0])
    metrics = coco_detection_metrics(
        [truth], [ImagePrediction([(10, 10, 50, 50)], [0.9], [0])], CLASSES
    )
    assert metrics.per_class_ap == {"circle": pytest.approx(1.0)}
    assert plot_per_class_ap(metrics, tmp_path / "ap.png").stat().st_size > 1000
