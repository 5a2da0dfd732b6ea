"""Training loop of the shared-backbone detector + scene network (no Django here).

Run directly for a long training without the database::

    python -m ml_models.training.train --run-dir var/checkpoints/shapenet --steps 6000

``--resume`` continues from ``run-dir/last.pt``; the data stream resumes at the next
unseen sample, so a resumed run sees the same examples an uninterrupted one would.
The management command ``train`` wraps :func:`train` and registers the exported weights.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

from ml_models.inference.decode import distances_from_logits
from ml_models.inference.host import keep_heap_mapped
from ml_models.inference.network import NetworkConfig, ShapeNet, build_network
from ml_models.inference.predictor import load_shapenet
from ml_models.inference.preprocess import normalise
from ml_models.inference.runner import resolve_precision, run_shapenet
from ml_models.inference.spec import card_specs
from ml_models.training.clutter import TRAINING_WORLD
from ml_models.training.data import LabelledImage, ListStream, SyntheticStream, synthetic_item
from ml_models.training.evaluation import (
    ImagePrediction,
    ImageTruth,
    coco_detection_metrics,
    scene_metrics,
)
from ml_models.training.losses import box_giou_loss, centre_focal_loss
from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES, SceneGenerator

CARD_FORMAT = "vision_site.shapenet/1"
VALIDATION_SEED_OFFSET = 1_000_003  # validation never shares a stream with training


@dataclass
class TrainConfig:  # pylint: disable=too-many-instance-attributes
    """Everything that defines a training run (stored in the checkpoint and the card)."""

    run_dir: str = "var/checkpoints/shapenet"
    steps: int = 6000
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup_steps: int = 300
    seed: int = 0
    workers: int = -1  # data-loading processes; -1: one on CPU, all cores but two on CUDA
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when available, else CPU; or "cpu", "cuda", "cuda:1"
    heap_pad_mb: int = 512  # see ml_models.inference.host (8 % faster steps, +10 % memory)
    val_every: int = 500
    val_size: int = 200
    checkpoint_every: int = 100
    ema_decay: float = 0.998
    box_loss_weight: float = 5.0
    scene_loss_weight: float = 1.0
    max_minutes: float = 0.0  # 0: no wall-clock limit
    init_from: str = ""  # weights (safetensors) to start from; see ``init_weights``
    # a trained network's card (JSON) whose neck output the student learns to reproduce
    # (``Teacher``), and the weight of that term
    teacher: str = ""
    distill_weight: float = 5.0
    freeze_backbone: int = 0  # 1: the backbone keeps its weights and BatchNorm statistics
    bf16: int = 1  # 1: bf16 autocast (CPU with avx512_bf16/AMX, or CUDA); 0: fp32
    # share of synthetic examples drawn in the cluttered, damaged world of
    # ``ml_models.training.clutter`` (hard negatives included); 0: the plain generator
    clutter_rate: float = 0.0
    network: dict[str, Any] = field(default_factory=dict)
    command: str = ""


@dataclass
class TrainResult:
    """Where the run ended and what its last validation measured."""

    network: ShapeNet
    config: TrainConfig
    step: int
    duration_s: float
    images_seen: int
    validation: dict[str, Any]
    history: list[dict[str, Any]]


class ModelEma:
    """Exponential moving average of weights (buffers copied), used for validation/export."""

    def __init__(self, model: ShapeNet, decay: float) -> None:
        self.module: ShapeNet = copy.deepcopy(model).eval()
        self.decay = decay
        for param in self.module.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for ema_v, v in zip(
            self.module.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if ema_v.dtype.is_floating_point:
                ema_v.mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                ema_v.copy_(v)


def schedule_progress(step: int, elapsed_s: float, config: TrainConfig) -> float:
    """Fraction of the run done: by steps, or by wall-clock when ``max_minutes`` is set.

    A wall-clock budget makes the learning rate anneal fully by the deadline even on a
    shared, slower-than-expected machine (at the cost of bit-exact reproducibility).
    """
    progress = step / max(1, config.steps)
    if config.max_minutes > 0:
        progress = max(progress, elapsed_s / (60 * config.max_minutes))
    return min(progress, 1.0)


def lr_at(step: int, progress: float, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 2 % of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    return config.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class Teacher:
    """A trained network whose neck a student learns to reproduce: how a lighter neck
    (``NetworkConfig.separable_neck``) takes over a heavier one's features, heads and
    all. Where the student's backbone is the teacher's and frozen, the teacher reads the
    student's backbone features instead of computing its own."""

    network: ShapeNet
    shares_backbone: bool = False

    @classmethod
    def load(cls, card: Path, student: ShapeNet, device: torch.device, *, frozen: bool) -> Teacher:
        """The network of ``card``, on ``device``, for inference; it shares ``student``'s
        backbone features where the student's backbone is ``frozen`` and equal to its own."""
        network = load_shapenet(card_specs(card)[0])
        network = network.to(device).to(memory_format=torch.channels_last).eval()
        for param in network.parameters():
            param.requires_grad_(False)
        own, theirs = student.backbone.state_dict(), network.backbone.state_dict()
        shares = (
            frozen
            and own.keys() == theirs.keys()
            and all(torch.equal(own[key].to(device), theirs[key]) for key in own)
        )
        return cls(network=network, shares_backbone=shares)


def compute_losses(
    network: ShapeNet,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    teacher: Teacher | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted loss terms of one batch and their sum under ``"total"``; with a
    ``teacher``, ``"distill"``: the mean squared difference of the two necks' maps."""
    device = next(network.parameters()).device
    images = normalise(batch["image"].to(device)).contiguous(memory_format=torch.channels_last)
    batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(config.bf16)):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not config.freeze_backbone):
            feats: list[torch.Tensor] = network.backbone(images)
        out = network.from_features(feats, dense_boxes=True)
        if teacher is not None:
            with torch.no_grad():
                own = feats if teacher.shares_backbone else teacher.network.backbone(images)
                target = teacher.network.neck(own)
    has_boxes = batch["has_boxes"]
    heat = centre_focal_loss(out["heatmap"], batch["heatmap"], has_boxes)
    distances = distances_from_logits(out["box_logits"], network.config.stride)
    reg_target, reg_weight = batch["reg_target"], batch["reg_weight"]
    if reg_target.dim() == 5:  # one regression per class: (B, C, 4, F, F) -> (B*C, 4, F, F)
        planes = reg_target.shape[0] * reg_target.shape[1]
        distances = distances.reshape(planes, 4, *distances.shape[-2:])
        reg_target = reg_target.reshape(planes, 4, *reg_target.shape[-2:])
        reg_weight = reg_weight.reshape(planes, *reg_weight.shape[-2:])
    box = box_giou_loss(distances, reg_target, reg_weight, network.config.stride)
    losses = {"heatmap": heat, "box": box * config.box_loss_weight}
    if "scene" in out:
        labels = batch["scene"]
        if bool((labels >= 0).any()):
            losses["scene"] = config.scene_loss_weight * torch.nn.functional.cross_entropy(
                out["scene"].float(), labels, ignore_index=-1, label_smoothing=0.05
            )
    if teacher is not None:
        losses["distill"] = config.distill_weight * torch.nn.functional.mse_loss(
            out["neck"].float(), target.float()
        )
    losses["total"] = sum(losses.values(), torch.zeros((), device=device))
    return losses


def validation_items(*, seed: int, size: int) -> list[LabelledImage]:
    """A fixed synthetic validation set, from a stream training never draws from."""
    generator = SceneGenerator(seed=seed + VALIDATION_SEED_OFFSET)
    return [synthetic_item(generator, i, OBJECT_CLASSES, SCENE_CLASSES) for i in range(size)]


def evaluate_network(
    network: ShapeNet,
    items: Sequence[LabelledImage],
    *,
    batch_size: int = 16,
    precision: str = "auto",
) -> dict[str, Any]:
    """Detection mAP (COCO) and scene accuracy of ``network`` on labelled images, computed
    in the precision inference would use on this machine (unless told otherwise)."""
    network.eval()
    precision = resolve_precision(next(network.parameters()).device, precision)
    truths: list[ImageTruth] = []
    predictions: list[ImagePrediction] = []
    scene_true: list[int] = []
    scene_pred: list[int] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        output = run_shapenet(
            network, [item.image for item in chunk], score_threshold=0.01, precision=precision
        )
        for j, item in enumerate(chunk):
            det = output.detections[j]
            if item.has_boxes:
                truths.append(
                    ImageTruth(item.image.width, item.image.height, item.boxes, item.labels)
                )
                predictions.append(
                    ImagePrediction(
                        boxes=[tuple(b) for b in det.boxes.tolist()],
                        scores=det.scores.tolist(),
                        labels=det.labels.tolist(),
                    )
                )
            if item.scene >= 0 and output.scene_probs is not None:
                scene_true.append(item.scene)
                scene_pred.append(int(output.scene_probs[j].argmax()))
    config = network.config
    result: dict[str, Any] = {"images": len(items)}
    if truths:
        det_metrics = coco_detection_metrics(truths, predictions, config.object_classes)
        result["detection"] = asdict(det_metrics)
    if scene_true:
        result["scene"] = asdict(scene_metrics(scene_true, scene_pred, config.scene_classes))
    return result


def export_weights(network: ShapeNet, path: Path, *, half: bool = True) -> Path:
    """Save the network's state as safetensors (floating tensors in fp16 when ``half``)."""
    state = {
        name: (
            t.detach().cpu().half() if half and t.dtype.is_floating_point else t.detach().cpu()
        ).contiguous()
        for name, t in network.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": CARD_FORMAT})
    return path


def build_card(result: TrainResult, *, weights_file: str) -> dict[str, Any]:
    """The JSON card that travels with exported weights."""
    net_config = result.network.config
    return {
        "format": CARD_FORMAT,
        "weights_file": weights_file,
        "architecture": net_config.backbone,
        "network": net_config.to_dict(),
        "input_size": net_config.input_size,
        "object_classes": list(net_config.object_classes),
        "scene_classes": list(net_config.scene_classes),
        "training": {
            "command": result.config.command,
            "seed": result.config.seed,
            "steps": result.step,
            "batch_size": result.config.batch_size,
            "images_seen": result.images_seen,
            "duration_s": round(result.duration_s, 1),
            "data": _data_description(result.config),
            "config": asdict(result.config),
        },
        "metrics": {"training_validation": result.validation},
    }


def _data_description(config: TrainConfig) -> str:
    if config.clutter_rate <= 0:
        return "synthetic (ml_models.training.synthetic)"
    return (
        f"synthetic (ml_models.training.synthetic), {config.clutter_rate:.0%} of it in the "
        "cluttered world of ml_models.training.clutter (backgrounds "
        f"{', '.join(TRAINING_WORLD.backgrounds)}; hard negatives; damage "
        f"{', '.join(TRAINING_WORLD.damage)})"
    )


def init_weights(network: ShapeNet, path: Path, log: Callable[[str], None]) -> None:
    """Start from the weights in ``path`` wherever the shapes allow (fine-tuning).

    A shared 4-channel box regression seeds each class's copy of a per-class one, so a
    ``box_per_class`` network starts out predicting exactly what its parent did; a dense
    head seeds a separable one (``_separable_from_dense``).
    """
    own = network.state_dict()
    loaded = {k: v.float() for k, v in load_file(str(path)).items()}
    taken: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape == target.shape:
            taken[key] = value
        elif (
            key.startswith("regression.")
            and target.shape[1:] == value.shape[1:]
            and target.shape[0] % value.shape[0] == 0
        ):  # a shared box regression repeated once per class
            repeats = [target.shape[0] // value.shape[0]] + [1] * (value.dim() - 1)
            taken[key] = value.repeat(*repeats)
    taken.update(_separable_from_dense(own, loaded))
    network.load_state_dict(taken, strict=False)
    log(f"initialised {len(taken)} of {len(own)} tensors from {path}")


# The layers that ``NetworkConfig.separable_head`` and ``separable_neck`` make
# depthwise-separable.
_SEPARABLE_LAYERS = ("smooth.0.", "heatmap.0.", "regression.0.", "smooth.1.", "smooth.2.")


def _separable_from_dense(
    own: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Seed each depthwise-separable layer of ``own`` from the parent's dense 3x3 one:
    for every input channel, the best rank-1 split (SVD) of its (outputs x 9) kernel into
    a 3x3 depthwise filter and a column of the pointwise one; the parent's BatchNorm
    follows as it did. Exact where the parent's kernels have rank 1; on shapenet-v4 it
    keeps about half of each kernel's energy, a better start than random filters."""
    taken: dict[str, torch.Tensor] = {}
    for prefix in _SEPARABLE_LAYERS:
        dense, depthwise = loaded.get(f"{prefix}0.weight"), own.get(f"{prefix}0.weight")
        pointwise = own.get(f"{prefix}1.weight")
        if dense is None or depthwise is None or pointwise is None:
            continue
        outputs, inputs = dense.shape[:2]
        if depthwise.shape != (inputs, 1, 3, 3) or pointwise.shape != (outputs, inputs, 1, 1):
            continue
        kernels = dense.permute(1, 0, 2, 3).reshape(inputs, outputs, 9)
        left, values, right = torch.linalg.svd(kernels, full_matrices=False)  # pylint: disable=not-callable
        root = values[:, 0].sqrt()
        taken[f"{prefix}0.weight"] = (right[:, 0, :] * root[:, None]).reshape(inputs, 1, 3, 3)
        taken[f"{prefix}1.weight"] = (left[:, :, 0] * root[:, None]).T.reshape(
            outputs, inputs, 1, 1
        )
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            if f"{prefix}1.{name}" in loaded and f"{prefix}2.{name}" in own:
                taken[f"{prefix}2.{name}"] = loaded[f"{prefix}1.{name}"]
    return taken


def _make_loader(
    config: TrainConfig,
    net_config: NetworkConfig,
    start: int,
    items: Sequence[LabelledImage] | None,
    *,
    device: torch.device,
) -> DataLoader[dict[str, torch.Tensor]]:
    workers = config.workers
    if workers < 0:  # the CPU's cores train on CPU; on a GPU they make the data
        workers = max(1, (os.cpu_count() or 1) - 2) if device.type == "cuda" else 1
    dataset: IterableDataset[dict[str, torch.Tensor]]
    if items is None:
        dataset = SyntheticStream(
            seed=config.seed,
            object_classes=net_config.object_classes,
            scene_classes=net_config.scene_classes,
            size=net_config.input_size,
            stride=net_config.stride,
            start=start,
            box_per_class=net_config.box_per_class,
            clutter_rate=config.clutter_rate,
        )
    else:
        dataset = ListStream(
            items=items,
            num_classes=len(net_config.object_classes),
            size=net_config.input_size,
            stride=net_config.stride,
            seed=config.seed,
            start=start,
            box_per_class=net_config.box_per_class,
        )
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
        pin_memory=device.type == "cuda",
    )


def training_device(requested: str = "auto") -> torch.device:
    """Where a run trains: ``auto`` takes CUDA when available, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training device {requested!r}: CUDA is not available here")
    return device


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class _Run:  # pylint: disable=too-many-instance-attributes
    """The mutable state of one training run: network, optimiser, EMA, step, history."""

    def __init__(self, config: TrainConfig, log: Callable[[str], None]) -> None:
        self.config = config
        self.log = log
        self.run_dir = Path(config.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.run_dir / "last.pt"
        self.net_config = NetworkConfig.from_dict(
            {
                "object_classes": list(OBJECT_CLASSES),
                "scene_classes": list(SCENE_CLASSES),
                **config.network,
            }
        )
        self.network = build_network(self.net_config)
        if config.init_from:
            init_weights(self.network, Path(config.init_from), log)
        self.device = training_device(config.device)
        self.network = self.network.to(self.device).to(memory_format=torch.channels_last)
        if config.freeze_backbone:
            for param in self.network.backbone.parameters():
                param.requires_grad_(False)
        self.teacher = (
            Teacher.load(
                Path(config.teacher),
                self.network,
                self.device,
                frozen=bool(config.freeze_backbone),
            )
            if config.teacher
            else None
        )
        self.optimizer = torch.optim.AdamW(
            [param for param in self.network.parameters() if param.requires_grad],
            lr=config.lr,
            weight_decay=config.weight_decay,
        )
        self.ema = ModelEma(self.network, config.ema_decay)
        self.step = 0
        self.elapsed_before = 0.0
        self.started = time.monotonic()
        self.history: list[dict[str, Any]] = []

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def resume(self) -> None:
        if not self.checkpoint_path.exists():
            return
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        self.network.load_state_dict(state["model"])
        self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.elapsed_before = int(state["step"]), float(state["elapsed_s"])
        self.history = list(state.get("history", []))
        self.log(f"resumed from {self.checkpoint_path} at step {self.step}")

    def save_checkpoint(self) -> None:
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(
            {
                "model": self.network.state_dict(),
                "ema": self.ema.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "elapsed_s": self.elapsed,
                "config": asdict(self.config),
                "network_config": self.net_config.to_dict(),
                "history": self.history,
            },
            tmp,
        )
        tmp.replace(self.checkpoint_path)

    def validate(self, val_items: Sequence[LabelledImage]) -> dict[str, Any]:
        metrics = evaluate_network(self.ema.module, val_items) if val_items else {}
        summary = {
            "step": self.step,
            "map_50": metrics.get("detection", {}).get("map_50"),
            "map_50_95": metrics.get("detection", {}).get("map_50_95"),
            "scene_accuracy": metrics.get("scene", {}).get("accuracy"),
        }
        self.history.append(summary)
        self.log(f"validation {json.dumps(summary)}")
        with (self.run_dir / "history.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary) + "\n")
        self.train_mode()
        return metrics

    def train_mode(self) -> None:
        """The network in training mode; a frozen backbone keeps its BatchNorm statistics."""
        self.network.train()
        if self.config.freeze_backbone:
            self.network.backbone.eval()

    def train_step(self, batch: dict[str, torch.Tensor], done: float) -> dict[str, torch.Tensor]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, done, self.config)
        losses = compute_losses(self.network, batch, self.config, self.teacher)
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 10.0)
        self.optimizer.step()
        self.ema.update(self.network, self.step)
        self.step += 1
        return losses


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    items: Sequence[LabelledImage] | None = None,
    val_items: Sequence[LabelledImage] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) a run; checkpoints go to ``run_dir/last.pt``.

    ``items``: a user's labelled images instead of the synthetic stream.
    """
    torch.manual_seed(config.seed)
    torch.set_flush_denormal(True)  # denormal floats make CPU kernels crawl
    if config.threads:
        torch.set_num_threads(config.threads)
    keep_heap_mapped(config.heap_pad_mb * 1024 * 1024)
    run = _Run(config, log)
    if resume:
        run.resume()
    if val_items is None:
        val_items = (
            validation_items(seed=config.seed, size=config.val_size) if items is None else []
        )
    loader = _make_loader(
        config, run.net_config, run.step * config.batch_size, items, device=run.device
    )
    run.train_mode()
    progress_bar = tqdm(
        total=config.steps,
        initial=run.step,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    running: dict[str, float] = {}
    last_metrics: dict[str, Any] = {}
    for batch in loader:
        done = schedule_progress(run.step, run.elapsed, config)
        if run.step >= config.steps or done >= 1.0:
            break
        losses = run.train_step(batch, done)
        for key, value in losses.items():
            scalar = float(value.detach())
            running[key] = 0.9 * running.get(key, scalar) + 0.1 * scalar
        progress_bar.update(1)
        progress_bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
        finished = run.step >= config.steps or (
            config.max_minutes > 0 and run.elapsed / 60 >= config.max_minutes
        )
        if run.step % config.checkpoint_every == 0 or finished:
            run.save_checkpoint()
        if (config.val_every and run.step % config.val_every == 0) or finished:
            last_metrics = run.validate(val_items)
        if finished:
            log(f"finished at step {run.step}")
            break
    progress_bar.close()
    if not last_metrics and val_items:
        last_metrics = run.validate(val_items)
    run.save_checkpoint()
    return TrainResult(
        network=run.ema.module,
        config=config,
        step=run.step,
        duration_s=run.elapsed,
        images_seen=run.step * config.batch_size,
        validation=last_metrics,
        history=run.history,
    )


def export_checkpoint(
    run_dir: Path, out: Path, *, validation: dict[str, Any] | None = None
) -> Path:
    """Export the EMA weights of ``run_dir/last.pt`` as fp16 safetensors + JSON card."""
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    network = build_network(NetworkConfig.from_dict(state["network_config"]))
    network.load_state_dict(state["ema"])
    config = TrainConfig(**state["config"])
    result = TrainResult(
        network=network,
        config=config,
        step=int(state["step"]),
        duration_s=float(state["elapsed_s"]),
        images_seen=int(state["step"]) * config.batch_size,
        validation=validation or {"history": state.get("history", [])[-1:]},
        history=list(state.get("history", [])),
    )
    path = export_weights(network, out)
    card = build_card(result, weights_file=path.name)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (no database): train, then export weights + card."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        if name in {"network", "command"}:
            continue
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--export", default="", help="write fp16 safetensors + JSON card here (.safetensors)"
    )
    parser.add_argument("--network", default="{}", help="JSON overrides of NetworkConfig")
    parser.add_argument(
        "--export-only", action="store_true", help="export run-dir/last.pt to --export and stop"
    )
    args = parser.parse_args(argv)
    if args.export_only:
        print(f"exported {export_checkpoint(Path(args.run_dir), Path(args.export))}")
        return
    values = {k: getattr(args, k) for k in asdict(defaults) if k not in {"network", "command"}}
    config = TrainConfig(
        **values,
        network=json.loads(args.network),
        command="python -m ml_models.training.train "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
    )
    result = train(config, resume=args.resume)
    if args.export:
        path = export_weights(result.network, Path(args.export))
        card = build_card(result, weights_file=path.name)
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        print(f"exported {path}")


if __name__ == "__main__":
    main()
