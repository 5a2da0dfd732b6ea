"""Throughput of the shipped detector + scene system (a script, not a test).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/models.py [--card ml_models/weights/X.json]

For batch sizes 1, 8 and 32 of 640x480 images it prints images/s of the full system
(letterbox preprocessing, one shared-backbone forward pass for both heads, decoding,
NMS and SPEC.md JSON fields, exactly what ``manage.py analyze`` runs) and of the bare
backbone forward pass at the same batch size and dtype, and their ratio. On CUDA it also
runs bf16 with channels_last and reports the best batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import cast

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# pylint: disable=wrong-import-position

from ml_models.inference.predictor import (
    Analyzer,
    ModelRegistry,
    ModelSpec,
    configure_threads,
    select_device,
)
from ml_models.inference.runner import autocast_for
from ml_models.training.synthetic import SceneGenerator

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "ml_models" / "weights"


def _specs(card_path: Path) -> tuple[ModelSpec, ModelSpec]:
    card = json.loads(card_path.read_text(encoding="utf-8"))
    net = card["network"]
    weights = card_path.parent / card["weights_file"]
    common = {
        "architecture": net["backbone"],
        "weights_path": weights,
        "input_size": int(net["input_size"]),
    }
    detector = ModelSpec(
        name=f"{card_path.stem}-detector",
        kind="detector",
        classes=tuple(net["object_classes"]),
        card=card,
        **common,
    )
    scene = ModelSpec(
        name=f"{card_path.stem}-scene",
        kind="scene",
        classes=tuple(net["scene_classes"]),
        card=card,
        **common,
    )
    return detector, scene


def _timed(fn: object, repeats: int, min_seconds: float) -> float:
    """Seconds per call: one warm-up call, then at least ``repeats`` calls and ``min_seconds``."""
    assert callable(fn)
    fn()
    calls, started = 0, time.perf_counter()
    while calls < repeats or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cards = sorted(WEIGHTS_DIR.glob("*.json"))
    parser.add_argument("--card", type=Path, default=cards[-1] if cards else None)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum time per measurement")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.card is None:
        sys.exit("no card: pass --card path/to/weights.json")
    threads = configure_threads(args.threads)
    torch.set_flush_denormal(True)
    device = select_device(args.device)
    detector, scene = _specs(args.card)
    analyzer = Analyzer(detector=detector, scene=scene, registry=ModelRegistry(device))
    network = analyzer.registry.get(detector).module
    backbone = cast("torch.nn.Module", network.backbone)
    size = detector.input_size
    generator = SceneGenerator(seed=2024, min_side=480, max_side=480)
    pool = [generator.sample(i).image.resize((640, 480)) for i in range(8)]
    dtype = "bf16" if device.type == "cuda" else "fp32"
    print(f"# {args.card.name}  device={device}  threads={threads}  dtype={dtype}  input={size}")
    cpu = platform.processor() or platform.machine()
    print(f"# cpu: {cpu}  cores={os.cpu_count()}  torch {torch.__version__}")
    print(f"{'batch':>5} | {'full img/s':>10} | {'bare backbone img/s':>19} | {'full/bare':>9}")
    print("-" * 54)
    batches = [int(b) for b in args.batches.split(",")]
    if device.type == "cuda":
        batches = sorted(set(batches) | {64, 128, 256})
    best = (0, 0.0)
    for batch in batches:
        images = [pool[i % len(pool)] for i in range(batch)]
        analyzer.batch_size = batch
        full = _timed(lambda images=images: analyzer.analyze(images), 3, args.seconds)
        tensor = torch.randn(batch, 3, size, size, device=device).contiguous(
            memory_format=torch.channels_last
        )

        @torch.inference_mode()
        def bare(tensor: torch.Tensor = tensor) -> None:
            with autocast_for(device):
                backbone(tensor)
            if device.type == "cuda":
                torch.cuda.synchronize()

        bare_s = _timed(bare, 3, args.seconds)
        full_ips, bare_ips = batch / full, batch / bare_s
        best = max(best, (batch, full_ips), key=lambda b: b[1])
        print(f"{batch:>5} | {full_ips:>10.1f} | {bare_ips:>19.1f} | {full_ips / bare_ips:>8.0%}")
    print(f"# best: batch {best[0]} at {best[1]:.1f} img/s (full system)")


if __name__ == "__main__":
    main()
