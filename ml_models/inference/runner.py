"""One forward pass of a ShapeNet over PIL images: detections and scene probabilities."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from PIL import Image

from ml_models.inference.decode import Detections, decode
from ml_models.inference.network import ShapeNet
from ml_models.inference.preprocess import batch_images, normalise

# Peaks already separate objects; NMS only removes same-class duplicates, and must not
# remove neighbouring flower petals whose boxes overlap.
NMS_IOU = 0.7


@dataclass
class NetworkOutput:
    """Per-image detections (original pixels) and scene probabilities (or None)."""

    detections: list[Detections]
    scene_probs: torch.Tensor | None  # (B, S)


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; plain fp32 elsewhere (CPU bf16 is not faster for this net)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def iter_batches(images: list[Image.Image], batch_size: int) -> Iterator[list[Image.Image]]:
    """Consecutive chunks of at most ``batch_size`` images."""
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


@torch.inference_mode()
def run_shapenet(
    network: ShapeNet,
    images: list[Image.Image],
    *,
    score_threshold: float = 0.05,
    nms_iou: float = NMS_IOU,
    device: torch.device | None = None,
) -> NetworkOutput:
    """Detect primitives and classify scenes for a batch of differently sized images."""
    device = device or next(network.parameters()).device
    config = network.config
    batch, boxed = batch_images(images, config.input_size)
    inputs = normalise(batch.to(device)).contiguous(memory_format=torch.channels_last)
    with autocast_for(device):
        out = network(inputs)
    detections = decode(
        out["heatmap"],
        out["distances"],
        stride=config.stride,
        scales=[b.scale for b in boxed],
        sizes=[(b.width, b.height) for b in boxed],
        score_threshold=score_threshold,
        iou_threshold=nms_iou,
    )
    detections = [
        Detections(boxes=d.boxes.cpu(), scores=d.scores.cpu(), labels=d.labels.cpu())
        for d in detections
    ]
    scene_probs = torch.softmax(out["scene"].float(), dim=1).cpu() if "scene" in out else None
    return NetworkOutput(detections=detections, scene_probs=scene_probs)
