"""Inference-only speed-ups: compute precision, folded BatchNorms, torch.compile."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from ml_models.inference import runner
from ml_models.inference.decode import decode, distances_from_logits
from ml_models.inference.network import (
    NetworkConfig,
    ShapeNet,
    _at_cells,
    _conv_bn,
    _separable_bn,
    build_network,
    spatial_reduce,
)
from ml_models.inference.optimize import CompiledForward, fold_batch_norms, power_of_two_chunks
from ml_models.inference.predictor import Analyzer, ModelRegistry
from ml_models.inference.runner import resolve_precision
from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES, SceneGenerator
from tests.ml_models.conftest import shipped_specs

TINY: dict[str, Any] = {
    "input_size": 96,
    "backbone_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8},
    "object_classes": list(OBJECT_CLASSES),
    "scene_classes": list(SCENE_CLASSES),
}


def _trained_looking_network(**config: Any) -> ShapeNet:
    """A tiny network whose BatchNorms hold non-trivial statistics (as after training)."""
    torch.manual_seed(0)
    network = build_network(NetworkConfig(**TINY, **config))
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return network.eval()


def test_precision_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(runner, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision(cpu, "auto") == "bf16"
    monkeypatch.setattr(runner, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision(cpu, "auto") == "fp32"
    assert resolve_precision(cpu, "fp32") == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'int3'"):
        resolve_precision(cpu, "int3")


@pytest.mark.parametrize("separable", [False, True])
def test_folded_network_gives_the_same_outputs(separable: bool) -> None:
    network = _trained_looking_network(separable_head=separable)
    folded = fold_batch_norms(network)
    batch_norms = [m for m in folded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not batch_norms  # every norm folded, backbone (traced) and heads alike
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())  # original kept
    inputs = torch.randn(3, 3, 96, 96)
    with torch.inference_mode():
        expected, got = network(inputs), folded(inputs)
        dense = network(inputs, dense_boxes=True), folded(inputs, dense_boxes=True)
    at_peaks = {"top_scores", "top_index", "top_box_logits"}
    assert set(got) == set(expected) == {"heatmap", "peaks", "scene", *at_peaks}
    dense_keys = {"heatmap", "peaks", "scene", "box_logits", "neck"}
    assert set(dense[1]) == set(dense[0]) == dense_keys
    for key, value in [*expected.items(), *((k, dense[0][k]) for k in ("box_logits", "neck"))]:
        got_value = got[key] if key in got else dense[1][key]
        torch.testing.assert_close(got_value, value, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [{}, {"separable_head": True, "box_per_class": True}],
    ids=["dense head, shared regression", "separable head, regression per class"],
)
def test_box_logits_at_the_peaks_are_the_dense_ones_there(config: dict[str, Any]) -> None:
    network = fold_batch_norms(_trained_looking_network(**config))
    inputs = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        sparse, dense = network(inputs), network(inputs, dense_boxes=True)
    scores, index, logits = sparse["top_scores"], sparse["top_index"], sparse["top_box_logits"]
    assert scores.shape == index.shape == (2, 100) and logits.shape == (2, 100, 4)
    maps = dense["box_logits"]
    cells = maps.shape[2] * maps.shape[3]
    per_class = maps.reshape(2, -1, 4, cells)  # (B, 1 or C, 4, cells)
    for image in range(2):
        for rank in (0, 1, 57, 99):  # the strongest peaks and the weakest kept
            flat = int(index[image, rank])
            label = flat // cells if per_class.shape[1] > 1 else 0
            expected = per_class[image, label, :, flat % cells]
            torch.testing.assert_close(logits[image, rank], expected, rtol=1e-4, atol=1e-5)
            assert scores[image, rank] == sparse["peaks"].reshape(2, -1)[image, flat]


@pytest.mark.parametrize("separable", [False, True], ids=["dense 3x3", "separable 3x3"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["NCHW", "channels_last"])
def test_a_head_at_cells_is_the_dense_head_there(separable: bool, channels_last: bool) -> None:
    """Every cell, the borders and corners included, and a BatchNorm left unfolded."""
    torch.manual_seed(1)
    head = torch.nn.Sequential(
        (_separable_bn if separable else _conv_bn)(6, 5), torch.nn.Conv2d(5, 3, 1)
    )
    for module in head.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    head.eval()
    features = torch.randn(2, 6, 5, 7)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    cells = torch.stack([torch.arange(35), torch.arange(35).flip(0)])  # (2, 35): all cells
    with torch.inference_mode():
        dense = head(features).flatten(2).transpose(1, 2)  # (B, H*W, 3)
        at_cells = _at_cells(head, features, cells)
    assert at_cells.shape == (2, 35, 3)
    torch.testing.assert_close(at_cells[0], dense[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(at_cells[1], dense[1].flip(0), rtol=1e-4, atol=1e-5)


def test_decode_from_network_peaks_equals_decode_from_logits() -> None:
    network = _trained_looking_network()
    inputs = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        out = network(inputs, dense_boxes=True)
        at_peaks = network(inputs)
    kwargs: dict[str, Any] = {
        "stride": 4,
        "scales": [1.0, 0.5],
        "sizes": [(96, 96), (192, 192)],
        "score_threshold": 0.0,
    }
    distances = distances_from_logits(out["box_logits"], 4)
    from_logits = decode(out["heatmap"], distances, **kwargs)
    from_peaks = decode(None, distances, peaks=out["peaks"], **kwargs)
    # what inference runs: distances computed only at the cells decoding reads
    lazily = decode(None, None, box_logits=out["box_logits"], peaks=out["peaks"], **kwargs)
    # what inference runs: the network regresses boxes at its strongest peaks only
    sparse = decode(None, None, top=at_peaks, peaks=at_peaks["peaks"], **kwargs)
    for a, b, c, d in zip(from_logits, from_peaks, lazily, sparse, strict=True):
        assert len(a.scores) > 0
        assert torch.equal(a.boxes, b.boxes) and torch.equal(a.labels, b.labels)
        for other in (c, d):
            torch.testing.assert_close(other.boxes, a.boxes)
            assert torch.equal(other.labels, a.labels) and torch.equal(other.scores, a.scores)


def test_shipped_models_agree_across_precisions() -> None:
    detector, scene = shipped_specs()
    images = [SceneGenerator(seed=77).sample(i).image for i in range(6)]
    results = {}
    for precision in ("fp32", "bf16"):
        registry = ModelRegistry(torch.device("cpu"), precision=precision)
        analyzer = Analyzer(detector=detector, scene=scene, registry=registry)
        results[precision] = analyzer.analyze(images)
    for fp32, bf16 in zip(results["fp32"], results["bf16"], strict=True):
        assert fp32.scene is not None and bf16.scene is not None
        assert fp32.scene["label"] == bf16.scene["label"]
        confident = [o for o in fp32.objects if o["score"] >= 0.5]
        for obj in confident:  # each confident fp32 box has a bf16 twin of its class
            twins = [o for o in bf16.objects if o["label"] == obj["label"]]
            assert any(_iou(obj["box"], o["box"]) > 0.8 for o in twins), obj


def _iou(a: list[float], b: list[float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_power_of_two_chunks() -> None:
    assert power_of_two_chunks(13) == [8, 4, 1]
    assert power_of_two_chunks(16) == [16]
    assert power_of_two_chunks(1) == [1]
    assert not power_of_two_chunks(0)


def test_compiled_forward_matches_eager_and_splits_batches() -> None:
    network = fold_batch_norms(_trained_looking_network())
    compiled = CompiledForward(network)
    inputs = torch.randn(3, 3, 96, 96).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        got, expected = compiled(inputs), network(inputs)
    assert not compiled.failed
    for key, value in expected.items():
        assert got[key].shape == value.shape  # chunks of 2 and 1 put back together
        torch.testing.assert_close(got[key], value, rtol=1e-3, atol=1e-3)


def test_compiled_forward_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(*_: object, **__: object) -> object:
        def run(_: torch.Tensor) -> dict[str, torch.Tensor]:
            raise RuntimeError("inductor exploded")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    network = _trained_looking_network()
    compiled = CompiledForward(network)
    inputs = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        out = compiled(inputs)
        torch.testing.assert_close(out["heatmap"], network(inputs)["heatmap"])
    assert compiled.failed


@pytest.mark.parametrize(
    ("shape", "channels_last"),
    [((2, 8, 72, 96), True), ((3, 5, 9, 12), True), ((2, 8, 72, 96), False), ((1, 3, 4, 2), True)],
)
def test_spatial_reductions_equal_torchs(shape: tuple[int, ...], channels_last: bool) -> None:
    torch.manual_seed(sum(shape))
    maps = torch.randn(shape)
    if channels_last:
        maps = maps.contiguous(memory_format=torch.channels_last)
    maps = maps * (maps > 1.0)  # mostly zeros, as peak maps are
    assert torch.equal(spatial_reduce(maps, "amax"), maps.amax(dim=(2, 3)))
    torch.testing.assert_close(spatial_reduce(maps, "sum"), maps.sum(dim=(2, 3)))
