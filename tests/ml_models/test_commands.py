"""Management commands end to end: analyze, import_model, evaluate, train on user data."""

# pytest fixtures are named by the tests that use them
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from django.core.management import CommandError, call_command
from PIL import Image
from pytest_django.fixtures import SettingsWrapper
from safetensors.torch import save_file

from ml_models import parallel
from ml_models.models import ModelVersion
from ml_models.selectors import model_version_active
from ml_models.services import ANALYZE_WINDOW_BATCHES, images_analyze, model_version_activate
from ml_models.training.synthetic import SCENE_CLASSES, SceneGenerator
from tests.images import decompression_bomb_png, truncated_jpeg_bytes
from tests.ml_models.conftest import DEFAULT_CARD, DEFAULT_MODELS

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped_active() -> tuple[ModelVersion, ModelVersion]:
    """The default versions the migrations registered from ml_models/weights/, made active."""
    detector = model_version_activate(
        version=ModelVersion.objects.get(name=DEFAULT_MODELS["detector"])
    )
    scene = model_version_activate(version=ModelVersion.objects.get(name=DEFAULT_MODELS["scene"]))
    return detector, scene


def _run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_migration_registers_and_activates_the_shipped_models() -> None:
    detector = model_version_active(kind="detector")
    scene = model_version_active(kind="scene")
    assert detector is not None and detector.name == DEFAULT_MODELS["detector"]
    assert scene is not None and scene.name == DEFAULT_MODELS["scene"]
    assert scene.classes == list(SCENE_CLASSES)
    assert detector.weights_path == scene.weights_path == f"{DEFAULT_CARD.stem}.safetensors"


def test_analyze_json_matches_spec_and_survives_bad_files(
    tmp_path: Path, shipped_active: tuple[ModelVersion, ModelVersion]
) -> None:
    good = []
    for index in range(2):
        path = tmp_path / f"scene{index}.jpg"
        SceneGenerator(seed=9).sample(index).image.save(path, quality=90)
        good.append(str(path))
    broken = {
        "notes.txt": b"hello",
        "cut.jpg": truncated_jpeg_bytes(),
        "bomb.png": decompression_bomb_png(),
    }
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
    paths = [good[0], *(str(tmp_path / n) for n in broken), good[1]]
    out, err, error = _run("analyze", *paths, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == good
    for line in lines:
        assert set(line) == {"file", "width", "height", "scene", "objects", "models"}
        assert line["models"] == DEFAULT_MODELS
        assert line["scene"]["label"] in SCENE_CLASSES
        assert {"label", "score"} == set(line["scene"]["top"][0])
        assert all(set(obj) == {"label", "score", "box"} for obj in line["objects"])
        assert line["objects"], "a generated scene has shapes"
    for name in broken:
        assert name in err
    assert error is not None and "3 of 5" in str(error)


def test_analyze_batches_a_window_by_canvas_and_answers_in_file_order(
    tmp_path: Path, shipped_active: tuple[ModelVersion, ModelVersion]
) -> None:
    """Files are analysed a window of batches at a time, wide and tall ones batched apart;
    the outcomes still come in the order of the files, each what the file gets alone."""
    assert ANALYZE_WINDOW_BATCHES > 1
    paths = []
    for index in range(6):
        path = tmp_path / f"scene{index}.png"
        image = SceneGenerator(seed=11).sample(index).image
        image.resize((640, 480) if index % 3 else (300, 500)).save(path)
        paths.append(str(path))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths.insert(3, str(tmp_path / "broken.png"))
    outcomes = list(images_analyze(paths=paths, batch_size=2))
    assert [outcome.path for outcome in outcomes] == paths
    assert outcomes[3].error is not None and "broken.png" in outcomes[3].error
    for outcome in outcomes[:3] + outcomes[4:]:
        [alone] = images_analyze(paths=[outcome.path], batch_size=1)
        assert outcome.result is not None and alone.result is not None
        assert outcome.result["scene"] == alone.result["scene"]
        assert [o["label"] for o in outcome.result["objects"]] == [
            o["label"] for o in alone.result["objects"]
        ]


def test_analyze_in_two_processes_answers_as_one_process_does(
    tmp_path: Path,
    shipped_active: tuple[ModelVersion, ModelVersion],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pools: list[int] = []

    def pool(*args: Any, **kwargs: Any) -> ProcessPoolExecutor:
        pools.append(kwargs["max_workers"])
        return ProcessPoolExecutor(*args, **kwargs)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", pool)
    paths = []
    for index in range(5):
        path = tmp_path / f"scene{index}.jpg"
        SceneGenerator(seed=13).sample(index).image.save(path, quality=90)
        paths.append(str(path))
    (tmp_path / "cut.jpg").write_bytes(truncated_jpeg_bytes())
    paths.insert(2, str(tmp_path / "cut.jpg"))
    # batches of one: windows of ANALYZE_WINDOW_BATCHES files, so two windows, one each
    assert len(paths) > ANALYZE_WINDOW_BATCHES
    alone = _run("analyze", *paths, "--json", "--batch-size", "1")
    assert not pools
    shared = _run("analyze", *paths, "--json", "--batch-size", "1", "--processes", "2")
    assert pools == [2]
    for _, err, error in (alone, shared):
        assert "cut.jpg" in err
        assert error is not None and "1 of 6" in str(error)
    expected = [json.loads(line) for line in alone[0].splitlines()]
    found = [json.loads(line) for line in shared[0].splitlines()]
    assert [line["file"] for line in found] == [line["file"] for line in expected]
    assert len(found) == 5
    for mine, theirs in zip(found, expected, strict=True):
        assert mine["scene"]["label"] == theirs["scene"]["label"]
        assert [o["label"] for o in mine["objects"]] == [o["label"] for o in theirs["objects"]]
        for a, b in zip(mine["objects"], theirs["objects"], strict=True):
            assert a["box"] == pytest.approx(b["box"], abs=0.5)
            assert a["score"] == pytest.approx(b["score"], abs=1e-3)


def test_import_model_registers_a_timm_classifier_that_predicts(
    tmp_path: Path, settings: SettingsWrapper
) -> None:
    settings.MODEL_WEIGHTS_DIR = tmp_path / "weights"
    classes = ["apple", "pear", "plum"]
    model: Any = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    with torch.no_grad():  # a classifier that always says "plum"
        model.get_classifier().weight.zero_()
        model.get_classifier().bias.copy_(torch.tensor([0.0, 0.0, 8.0]))
    weights = tmp_path / "fruit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    out, _, error = _run(
        "import_model",
        "--kind",
        "scene",
        "--architecture",
        "resnet10t",
        "--weights",
        str(weights),
        "--classes",
        ",".join(classes),
        "--name",
        "fruit-v1",
        "--input-size",
        "128",
        "--activate",
    )
    assert error is None and "fruit-v1" in out
    image = tmp_path / "any.png"
    Image.new("RGB", (200, 150), "orange").save(image)
    out, _, error = _run("analyze", str(image), "--json")
    result = json.loads(out)
    assert error is None
    assert result["scene"]["label"] == "plum" and result["scene"]["score"] > 0.99
    assert result["models"]["scene"] == "fruit-v1"


def test_import_model_refuses_a_mismatched_file(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MODEL_WEIGHTS_DIR = tmp_path / "weights"
    weights = tmp_path / "five.safetensors"
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    _, _, error = _run(
        "import_model",
        "--kind",
        "scene",
        "--architecture",
        "resnet10t",
        "--weights",
        str(weights),
        "--classes",
        "a,b,c",
        "--name",
        "bad-v1",
    )
    assert error is not None and "five.safetensors" in str(error)
    assert not ModelVersion.objects.filter(name="bad-v1").exists()


def test_evaluate_stores_metrics_and_plots(
    tmp_path: Path, settings: SettingsWrapper, shipped_active: tuple[ModelVersion, ModelVersion]
) -> None:
    settings.MEDIA_ROOT = tmp_path
    out, _, error = _run("evaluate", "--count", "8", "--seed", "3")
    assert error is None and "mAP@0.5" in out
    detector, scene = (ModelVersion.objects.get(pk=v.pk) for v in shipped_active)
    assert 0 <= detector.metrics["map_50_95"] <= detector.metrics["map_50"] <= 1
    assert 0 <= scene.metrics["accuracy"] <= 1
    for plot in (
        detector.metrics["evaluation"]["detection"]["plot"],
        scene.metrics["evaluation"]["scene"]["plot"],
    ):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_robustness_measures_each_factor_and_stores_the_report(
    shipped_active: tuple[ModelVersion, ModelVersion],
) -> None:
    out, _, error = _run(
        "evaluate", "--robustness", "clean", "all_heldout", "--per-factor", "3", "--json"
    )
    assert error is None
    report = json.loads(out)
    assert list(report["factors"]) == ["clean", "all_heldout"]
    for factor in report["factors"].values():
        assert factor["images"] == 3
        det = factor["detection"]
        assert 0 <= det["map_50_95"] <= det["map_50"] <= 1
        assert det["at_threshold"]["threshold"] == 0.5
        assert 0 <= det["at_threshold"]["recall"] <= 1
        assert 0 <= factor["scene"]["accuracy"] <= 1
    detector, scene = (ModelVersion.objects.get(pk=v.pk) for v in shipped_active)
    assert detector.metrics["robustness"] == report == scene.metrics["robustness"]
    table, _, _ = _run("evaluate", "--robustness", "heldout_damage", "--per-factor", "2")
    assert "heldout_damage" in table and "false/img" in table


def test_evaluate_robustness_refuses_an_unknown_factor() -> None:
    _, _, error = _run("evaluate", "--robustness", "fog", "--per-factor", "2")
    assert error is not None and "unknown robustness factor(s) fog" in str(error)
    _, _, error = _run("evaluate", "--robustness", "--per-factor", "0")
    assert error is not None and "--per-factor" in str(error)


def test_train_on_a_users_coco_file(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MODEL_WEIGHTS_DIR = tmp_path / "weights"
    generator = SceneGenerator(seed=1)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(2):
        sample = generator.sample(index)
        sample.image.save(tmp_path / f"{index}.png")
        images.append({"id": index + 1, "file_name": f"{index}.png", "width": 1, "height": 1})
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "category_id": 1 if label in {"circle", "ellipse"} else 2,
                    "iscrowd": 0,
                }
            )
    coco = tmp_path / "coco.json"
    categories = [{"id": 1, "name": "round"}, {"id": 2, "name": "angular"}]
    coco.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    _, _, error = _run(
        "train",
        "--kind",
        "detector",
        "--coco",
        str(coco),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--val-every",
        "0",
        "--name",
        "user-det",
        "--run-dir",
        str(tmp_path / "run"),
        "--init-from",  # fine-tune from the shipped weights: what fits is taken
        str(DEFAULT_CARD.with_suffix(".safetensors")),
        "--box-per-class",
        "--separable-head",
        "--separable-neck",  # the shipped network's neck as the teacher of a lighter one
        "--teacher",
        str(DEFAULT_CARD),
        "--freeze-backbone",
        "--no-progress",
    )
    assert error is None, error
    version = ModelVersion.objects.get(name="user-det")
    assert version.kind == "detector" and version.classes == ["round", "angular"]
    assert (tmp_path / "weights" / "user-det.safetensors").exists()
    card = json.loads((tmp_path / "weights" / "user-det.json").read_text())
    assert card["training"]["steps"] == 2 and card["training"]["data"] == str(coco)
    assert card["network"]["box_per_class"] is True
    assert card["network"]["separable_head"] is True
    assert card["network"]["separable_neck"] is True
    assert card["training"]["config"]["teacher"] == str(DEFAULT_CARD)
    assert card["training"]["config"]["freeze_backbone"] == 1
    assert card["training"]["config"]["init_from"].endswith(".safetensors")
