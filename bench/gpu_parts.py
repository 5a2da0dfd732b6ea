"""Where the GPU path's time goes at one batch size (a script for a machine with a GPU).

    HF_HUB_OFFLINE=1 python bench/gpu_parts.py [--card ml_models/weights/X.json] [--batch 512]

``bench/models.py`` measures the full path against the bare forward passes; this script
times its parts one by one, so that the next change aims at the largest: filling the
pinned block from Pillow's memory (one task per copy thread, and one per image), the
host-to-device copy, the device resize (``F.interpolate`` and the shipped matrix
products, with their pixels compared to the CPU letterbox), the bare backbone and
network, letterboxing an uploaded batch, decoding, and the JSON fields. ``--device cpu``
is a dry run of the script.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# pylint: disable=wrong-import-position,protected-access

from ml_models.inference import preprocess
from ml_models.inference.network import ShapeNet
from ml_models.inference.predictor import batch_objects, load_model
from ml_models.inference.runner import LaunchedBatch, autocast_for, finish_shapenet
from ml_models.inference.spec import card_specs, shipped_cards
from ml_models.training.synthetic import SceneGenerator

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "ml_models" / "weights"


def _timer(device: torch.device) -> Callable[[Callable[[], object], int], float]:
    """ms per call of a function, after one warm-up call, waiting for the device."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(function: Callable[[], object], repeats: int = 5) -> float:
        function()
        sync()
        started = time.perf_counter()
        for _ in range(repeats):
            function()
        sync()
        return 1000 * (time.perf_counter() - started) / repeats

    return timed


def _interpolated(block: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The device resize as ``F.interpolate`` does it (what the matrix products replaced)."""
    resized = F.interpolate(
        block.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _differ(a: torch.Tensor, b: torch.Tensor) -> str:
    difference = (a.cpu().int() - b.cpu().int()).abs()
    return f"max {int(difference.max())}, {float((difference > 0).float().mean()):.2%} differ"


def _pixels(images: list[Image.Image], device: torch.device, timed: Callable[..., float]) -> None:
    count = len(images)
    host = torch.empty((count, 480, 640, 4), dtype=torch.uint8, pin_memory=device.type == "cuda")
    jobs = list(zip(images, host.numpy(), strict=True))
    threads = preprocess._COPY_THREADS.workers
    shares = [jobs[k::threads] for k in range(threads)]
    fill = timed(lambda: preprocess._COPY_THREADS.map(preprocess._copy_jobs, shares))
    single = [[job] for job in jobs]
    per_image = timed(lambda: preprocess._COPY_THREADS.map(preprocess._copy_jobs, single))
    print(f"pinned fill: {fill:.1f} ms ({threads} tasks), {per_image:.1f} ms (a task per image)")
    print(f"host to device, {host.numel() / 1e6:.0f} MB: {timed(lambda: host.to(device)):.1f} ms")
    block = host.to(device).permute(0, 3, 1, 2)[:, :3]
    matrix = timed(lambda: preprocess._resize_block(block, 288, 384))
    interpolate = timed(lambda: _interpolated(block, 288, 384))
    print(f"resize: {matrix:.1f} ms (matrix products, shipped), {interpolate:.1f} ms (interpolate)")
    on_cpu = preprocess.batch_images(images[:8], 384, multiple=32)[0]  # 384x288
    shipped = preprocess._resize_block(block[:8], 288, 384)
    print(f"  shipped vs the CPU letterbox: {_differ(shipped, on_cpu)}")
    interpolated = _interpolated(block[:8], 288, 384)
    print(f"  interpolate vs the CPU letterbox: {_differ(interpolated, on_cpu)}")


@torch.inference_mode()
def _network(
    card: Path, images: list[Image.Image], device: torch.device, timed: Callable[..., float]
) -> None:
    detector, _ = card_specs(card)
    precision = "bf16" if device.type == "cuda" else "fp32"
    network = load_model(detector, device, precision).module
    if not isinstance(network, ShapeNet):
        sys.exit(f"{card.name}: not a ShapeNet card")
    uploaded = preprocess.upload_images(images, device)
    size, multiple = network.canvas_rule
    # the served canvas: 384x288 for these 640x480 images
    batch, boxed = preprocess.letterbox_uploaded(uploaded, size, multiple=multiple)
    inputs = preprocess.normalise(batch)

    def run(module: Callable[[torch.Tensor], object]) -> object:
        with autocast_for(device, precision):
            return module(inputs)

    backbone, forward = timed(lambda: run(network.backbone)), timed(lambda: run(network))
    print(
        f"{card.name}, canvas {inputs.shape[3]}x{inputs.shape[2]}: bare backbone "
        f"{backbone:.1f} ms, bare network {forward:.1f} ms"
    )
    letterbox = timed(lambda: preprocess.letterbox_uploaded(uploaded, size, multiple=multiple))
    print(f"letterbox an uploaded batch: {letterbox:.1f} ms")
    out = cast("dict[str, torch.Tensor]", run(network))
    launched = LaunchedBatch(network=network, boxed=boxed, out=out)
    print(f"decode (finish_shapenet): {timed(lambda: finish_shapenet(launched)):.1f} ms")
    detections = finish_shapenet(launched).detections
    found = sum(len(d.scores) for d in detections) / len(images)
    json_ms = timed(lambda: batch_objects(detections, detector.classes))
    print(f"JSON fields (batch_objects): {json_ms:.1f} ms, {found:.1f} objects per image")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cards = shipped_cards(WEIGHTS_DIR)
    parser.add_argument("--card", type=Path, default=cards[-1])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here")
    generator = SceneGenerator(seed=2024, min_side=480, max_side=480)
    pool = [generator.sample(i).image.resize((640, 480)) for i in range(8)]
    images = [pool[i % len(pool)] for i in range(args.batch)]
    timed = _timer(device)
    print(f"# batch {args.batch} of 640x480 images on {device}")
    _pixels(images, device, timed)
    _network(args.card, images, device, timed)


if __name__ == "__main__":
    main()
