"""A tiny training run lowers the loss; checkpoints resume; export round-trips."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from ml_models.inference.network import NetworkConfig, build_network
from ml_models.inference.predictor import load_model
from ml_models.inference.spec import ModelSpec
from ml_models.training.data import SyntheticStream
from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES
from ml_models.training.train import (
    CARD_FORMAT,
    Teacher,
    TrainConfig,
    build_card,
    compute_losses,
    export_weights,
    init_weights,
    train,
    training_device,
)

TINY: dict[str, Any] = {
    "input_size": 128,
    "backbone_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8},
}


def _batch(size: int = 4, *, box_per_class: bool = False) -> dict[str, torch.Tensor]:
    stream = iter(
        SyntheticStream(
            seed=1,
            object_classes=OBJECT_CLASSES,
            scene_classes=SCENE_CLASSES,
            size=128,
            stride=4,
            box_per_class=box_per_class,
        )
    )
    examples = [next(stream) for _ in range(size)]
    return {key: torch.stack([e[key] for e in examples]) for key in examples[0]}


def test_a_few_steps_reduce_the_loss() -> None:
    torch.manual_seed(0)
    network = build_network(
        NetworkConfig(
            object_classes=list(OBJECT_CLASSES), scene_classes=list(SCENE_CLASSES), **TINY
        )
    )
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    batch = _batch()
    config = TrainConfig(bf16=0)
    network.train()
    losses = []
    for _ in range(12):
        loss = compute_losses(network, batch, config)
        optimizer.zero_grad()
        loss["total"].backward()
        optimizer.step()
        losses.append(float(loss["total"].detach()))
    assert losses[-1] < 0.6 * losses[0]
    assert set(loss) == {"heatmap", "box", "scene", "total"}


def test_train_resumes_and_exports(tmp_path: Path) -> None:
    config = TrainConfig(
        run_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=2,
        workers=0,
        val_every=0,
        val_size=2,
        checkpoint_every=1,
        network=TINY,
        bf16=0,
    )
    first = train(config, progress=False, log=lambda _: None)
    assert first.step == 2 and (tmp_path / "run" / "last.pt").exists()
    config.steps = 3
    resumed = train(config, resume=True, progress=False, log=lambda _: None)
    assert resumed.step == 3
    assert [h["step"] for h in resumed.history] == [2, 3]
    path = export_weights(resumed.network, tmp_path / "w.safetensors")
    card = {"format": "vision_site.shapenet/1", "network": resumed.network.config.to_dict()}
    spec = ModelSpec("w", "detector", "resnet10t", path, tuple(OBJECT_CLASSES), 128, card)
    loaded = load_model(spec, torch.device("cpu"))
    reference = resumed.network.eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        want, got = reference(x)["heatmap"], loaded.module(x)["heatmap"]
    assert torch.allclose(want, got, atol=0.05)  # fp16 weights


def test_per_class_regression_starts_from_a_shared_one(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = NetworkConfig(
        object_classes=list(OBJECT_CLASSES), scene_classes=list(SCENE_CLASSES), **TINY
    )
    parent = build_network(config).eval()
    path = export_weights(parent, tmp_path / "parent.safetensors", half=False)
    child = build_network(replace(config, box_per_class=True))
    init_weights(child, path, log=lambda _: None)
    child.eval()
    inputs = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        shared = parent(inputs, dense_boxes=True)["box_logits"]
        per_class = child(inputs, dense_boxes=True)["box_logits"]
    assert per_class.shape == (2, 4 * len(OBJECT_CLASSES), 32, 32)
    for cls in range(len(OBJECT_CLASSES)):  # every class's copy predicts the parent's boxes
        torch.testing.assert_close(per_class[:, 4 * cls : 4 * cls + 4], shared)
    batch = _batch(box_per_class=True)
    assert batch["reg_target"].shape == (4, len(OBJECT_CLASSES), 4, 32, 32)
    losses = compute_losses(child.train(), batch, TrainConfig(bf16=0))
    assert torch.isfinite(losses["box"])


def test_separable_head_starts_from_a_dense_one(tmp_path: Path) -> None:
    """Where the parent's 3x3 kernels have rank 1 per input channel, the separable child
    it seeds computes exactly what the parent does."""
    torch.manual_seed(0)
    config = NetworkConfig(
        object_classes=list(OBJECT_CLASSES), scene_classes=list(SCENE_CLASSES), **TINY
    )
    parent = build_network(config).eval()
    with torch.no_grad():
        for name in ("smooth.0.0", "heatmap.0.0", "regression.0.0"):
            layer = parent.get_submodule(name)
            assert isinstance(layer, torch.nn.Conv2d)
            out_channels, in_channels = layer.weight.shape[:2]
            spatial = torch.randn(1, in_channels, 3, 3)
            layer.weight.copy_(torch.randn(out_channels, in_channels, 1, 1) * spatial)
        for norm in parent.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                assert norm.running_mean is not None
                norm.running_mean.uniform_(-0.5, 0.5)
                norm.bias.uniform_(-0.2, 0.2)
    path = export_weights(parent, tmp_path / "parent.safetensors", half=False)
    child = build_network(replace(config, separable_head=True))
    init_weights(child, path, log=lambda _: None)
    child.eval()
    depthwise = child.get_submodule("smooth.0.0")
    assert isinstance(depthwise, torch.nn.Conv2d)
    assert depthwise.groups == depthwise.in_channels
    inputs = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        want, got = parent(inputs, dense_boxes=True), child(inputs, dense_boxes=True)
    # fp32 rounding differs between the two factorisations, and by CPU: 1.1e-4 was seen
    # on one machine with AVX-512; a wrong seed would be off by the values themselves
    for key in ("heatmap", "box_logits", "scene"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-3, atol=1e-3)


def test_a_lighter_neck_learns_its_teacher_with_the_backbone_frozen(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = NetworkConfig(
        object_classes=list(OBJECT_CLASSES), scene_classes=list(SCENE_CLASSES), **TINY
    )
    weights = export_weights(build_network(config), tmp_path / "t.safetensors", half=False)
    card = tmp_path / "t.json"
    card.write_text(
        json.dumps(
            {"format": CARD_FORMAT, "weights_file": weights.name, "network": config.to_dict()}
        )
    )
    student = build_network(replace(config, separable_neck=True))
    init_weights(student, weights, log=lambda _: None)  # the backbone is the teacher's
    assert not Teacher.load(card, student, torch.device("cpu"), frozen=False).shares_backbone
    teacher = Teacher.load(card, student, torch.device("cpu"), frozen=True)
    assert teacher.shares_backbone
    for param in student.backbone.parameters():
        param.requires_grad_(False)
    backbone = {key: value.clone() for key, value in student.backbone.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=3e-3)
    student.train()
    student.backbone.eval()
    batch, train_config = _batch(), TrainConfig(bf16=0, freeze_backbone=1)
    distill = []
    for _ in range(30):
        losses = compute_losses(student, batch, train_config, teacher)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        distill.append(losses["distill"].item())
    assert distill[-1] < 0.5 * distill[0]
    # weights and BatchNorm statistics alike
    assert all(torch.equal(backbone[k], v) for k, v in student.backbone.state_dict().items())


def test_a_cluttered_run_trains_on_the_cluttered_world_and_says_so(tmp_path: Path) -> None:
    config = TrainConfig(
        run_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=2,
        workers=0,
        val_every=0,
        val_size=0,
        network=TINY,
        bf16=0,
        clutter_rate=1.0,
    )
    stream = SyntheticStream(
        seed=0, object_classes=OBJECT_CLASSES, scene_classes=SCENE_CLASSES, size=128, stride=4,
        clutter_rate=1.0,
    )  # fmt: skip
    assert stream.generator.world is not None and stream.generator.clutter_rate == 1.0
    plain = SyntheticStream(
        seed=0, object_classes=OBJECT_CLASSES, scene_classes=SCENE_CLASSES, size=128, stride=4
    )
    assert plain.generator.world is None
    result = train(config, progress=False, log=lambda _: None)
    card = build_card(result, weights_file="w.safetensors")
    assert "70%" not in card["training"]["data"]
    assert "100% of it in the cluttered world" in card["training"]["data"]
    assert "marble" not in card["training"]["data"] and "shading" not in card["training"]["data"]
    assert card["training"]["config"]["clutter_rate"] == 1.0


def test_training_takes_cuda_when_there_is_one(monkeypatch: Any) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")
    assert training_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        training_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device("auto") == torch.device("cuda")
    assert training_device("cuda:1") == torch.device("cuda:1")
