"""The independent held-out renderer (bench/heldout.py) writes a set `evaluate` can read."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ml_models.training.datasets import load_class_folders, load_coco
from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES

BENCH = Path(__file__).resolve().parents[2] / "bench" / "heldout.py"


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_heldout", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def test_renderer_is_independent_of_the_training_generator() -> None:
    source = BENCH.read_text(encoding="utf-8")
    assert "import ml_models" not in source and "from ml_models" not in source


def test_renderer_writes_coco_and_scene_folders_that_evaluate_reads(tmp_path: Path) -> None:
    renderer = _renderer()
    renderer.generate(7, 5, tmp_path)  # one image of each scene

    items, classes = load_coco(tmp_path / "annotations.json", tmp_path / "images")
    assert classes == list(OBJECT_CLASSES)  # SPEC.md's order, as the models use
    assert len(items) == 7
    for item in items:
        assert item.boxes
        for x1, y1, x2, y2 in item.boxes:
            assert 0 <= x1 < x2 <= item.image.width and 0 <= y1 < y2 <= item.image.height
            assert max(x2 - x1, y2 - y1) >= 11  # SPEC: extents from 12 px (antialiased edge)
    scenes, scene_names = load_class_folders(tmp_path / "scenes")
    assert sorted(scene_names) == sorted(SCENE_CLASSES)
    assert len(scenes) == 7
