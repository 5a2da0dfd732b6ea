"""Throughput of the shipped detector + scene system (a script, not a test).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/models.py [--card ml_models/weights/X.json]

For batch sizes 1, 8 and 32 of 640x480 images it prints images/s of the full system
(letterbox preprocessing, one shared-backbone forward pass for both heads, decoding,
NMS and SPEC.md JSON fields, exactly what ``manage.py analyze`` runs, over a stream of
four batches), of the bare backbone forward pass at the same batch size, dtype and
input (the letterboxed canvas the full system feeds the network), and of the bare
network forward (backbone + neck + both heads, no pre- or post-processing),
with the full system's ratio to each. It runs in the precision the worker would use
(``--precision auto``: bf16 on CUDA and on CPUs with native bf16, else fp32); on CUDA
it also tries larger batches and reports the best.

After the table it prints the full system's images/s on a stream of interleaved
orientations (4:3, 3:4, 16:9, 1:1) at batch 16, where each canvas shape is batched on
its own, and the time of a camera-sized JPEG from its bytes.

The three are measured in interleaved rounds and each figure is the median over the
rounds, so that a shared machine's drifting speed does not skew one ratio.

``--against OTHER.json`` adds a table of the full system of ``--card`` against that of
another card (an older version, say), the two in interleaved rounds of the same run,
with the ratio of their images/s at each batch size.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# pylint: disable=wrong-import-position

from ml_models.inference.host import configure_host
from ml_models.inference.network import ShapeNet
from ml_models.inference.predictor import Analyzer, ModelRegistry, select_device
from ml_models.inference.preprocess import decode_image, load_image
from ml_models.inference.runner import (
    PRECISIONS,
    LaunchedBatch,
    autocast_for,
    finish_shapenet,
    prepare_shapenet,
)
from ml_models.inference.spec import card_specs, shipped_cards
from ml_models.training.synthetic import SceneGenerator

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "ml_models" / "weights"
# The full system analyses a stream of this many batches per call, as a script handing
# ``Analyzer.analyze`` many images does: on a GPU it letterboxes the next batch while one
# runs. (The worker and ``manage.py analyze`` pass one batch per call.)
STREAM_BATCHES = 4


def _timed(fn: object, repeats: int, min_seconds: float) -> float:
    """Seconds per call: one warm-up call, then at least ``repeats`` calls and ``min_seconds``."""
    assert callable(fn)
    fn()
    calls, started = 0, time.perf_counter()
    while calls < repeats or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls


def _bare(
    module: Callable[[torch.Tensor], object], tensor: torch.Tensor, precision: str
) -> Callable[[], None]:
    """One forward pass of ``module`` over ``tensor``, nothing before or after it."""

    @torch.inference_mode()
    def run() -> None:
        with autocast_for(tensor.device, precision):
            module(tensor)
        if tensor.device.type == "cuda":
            torch.cuda.synchronize()

    return run


def _interleaved(
    calls: list[Callable[[], object]], *, rounds: int, seconds: float
) -> list[list[float]]:
    """Seconds per call of each of ``calls``, measured round after round in turn."""
    return [[_timed(call, 2, seconds / rounds) for call in calls] for _ in range(rounds)]


@torch.inference_mode()
def _phases(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    network: ShapeNet,
    forward: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    images: list[Image.Image],
    device: torch.device,
    precision: str,
    min_seconds: float,
) -> tuple[float, float, float]:
    """Seconds per batch of the three steps of ``run_shapenet``, timed in one loop."""
    totals = [0.0, 0.0, 0.0]
    calls, started = -1, time.perf_counter()  # the first round is a warm-up
    while calls < 3 or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        prepared = prepare_shapenet(network, images, device=device, tight=forward is network)
        t1 = time.perf_counter()
        with autocast_for(device, precision):
            out = forward(prepared.inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        finish_shapenet(LaunchedBatch(network=network, boxed=prepared.boxed, out=out))
        t3 = time.perf_counter()
        if calls >= 0:
            for i, seconds in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                totals[i] += seconds
        else:
            started = time.perf_counter()
        calls += 1
    return (totals[0] / calls, totals[1] / calls, totals[2] / calls)


def _photo_line(analyzer: Analyzer, pool: list[Image.Image], seconds: float) -> str:
    """ms per image of a 4000x3000 JPEG (camera-sized), from its bytes to SPEC.md's fields,
    decoded at full size and decoded straight down to the input side (what the worker and
    ``analyze`` do)."""
    buffer = io.BytesIO()
    pool[0].resize((4000, 3000)).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    analyzer.batch_size = 1
    full = _timed(lambda: analyzer.analyze([load_image(data)]), 2, seconds / 2)
    fit = analyzer.input_size
    reduced = _timed(lambda: analyzer.analyze([decode_image(data, fit=fit)]), 2, seconds / 2)
    scale = decode_image(data, fit=fit).reduction
    return (
        f"# 4000x3000 JPEG, bytes to JSON, one at a time: {1000 * full:.1f} ms decoded at full "
        f"size, {1000 * reduced:.1f} ms decoded at 1/{scale} scale ({full / reduced:.1f}x)"
    )


MIXED_SIZES = ((640, 480), (480, 640), (640, 360), (512, 512))  # 4:3, 3:4, 16:9, 1:1


def _mixed_line(analyzer: Analyzer, pool: list[Image.Image], seconds: float) -> str:
    """img/s of the full system on a stream of interleaved orientations, batch 16 (the
    worker's default claim): each canvas shape is batched on its own."""
    stream = [
        pool[i % len(pool)].resize(MIXED_SIZES[i % len(MIXED_SIZES)])
        for i in range(STREAM_BATCHES * 16)
    ]
    analyzer.batch_size = 16
    per_stream = _timed(lambda: analyzer.analyze(stream), 2, seconds / 2)
    canvases = len(analyzer._chunks(stream[:16]))  # pylint: disable=protected-access
    return (
        f"# mixed sizes ({', '.join(f'{w}x{h}' for w, h in MIXED_SIZES)} interleaved), batch "
        f"16: {len(stream) / per_stream:.1f} img/s full system, {canvases} batches per 16 images"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cards = shipped_cards(WEIGHTS_DIR)
    parser.add_argument("--card", type=Path, default=cards[-1] if cards else None)
    parser.add_argument(
        "--against", type=Path, default=None, help="another card whose full system to compare"
    )
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument(
        "--heap-pad-mb",
        type=int,
        default=512,
        help="freed memory glibc keeps mapped (INFERENCE_HEAP_PAD_MB; 0: glibc's default)",
    )
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="minimum time per measurement (all rounds)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--precision", default="auto", choices=PRECISIONS, help="auto: what the worker would use"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the network and the bare backbone (INFERENCE_COMPILE=1)",
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.card is None:
        sys.exit("no card: pass --card path/to/weights.json")
    threads = configure_host(threads=args.threads, heap_pad_mb=args.heap_pad_mb)
    torch.set_flush_denormal(True)
    device = select_device(args.device)
    detector, scene = card_specs(args.card)
    registry = ModelRegistry(device, precision=args.precision, compile_networks=args.compile)
    precision = registry.precision
    analyzer = Analyzer(detector=detector, scene=scene, registry=registry)
    loaded = analyzer.registry.get(detector)
    network = cast("ShapeNet", loaded.module)
    forward = loaded.forward or network
    backbone: Callable[[torch.Tensor], object] = network.backbone
    if args.compile:
        backbone = torch.compile(network.backbone, dynamic=False, options={"freezing": True})
    size = detector.input_size
    generator = SceneGenerator(seed=2024, min_side=480, max_side=480)
    pool = [generator.sample(i).image.resize((640, 480)) for i in range(8)]
    mode = "torch.compile" if args.compile else "eager, BatchNorms folded"
    canvas = prepare_shapenet(network, pool[:1], device=device, tight=forward is network).inputs
    print(
        f"# {args.card.name}  device={device}  threads={threads}  dtype={precision}  "
        f"input={size} (canvas {canvas.shape[3]}x{canvas.shape[2]})  {mode}  "
        f"heap pad={args.heap_pad_mb} MB"
    )
    print(
        f"# cpu: {platform.processor() or platform.machine()}  cores={os.cpu_count()}  "
        f"torch {torch.__version__}"
    )
    print(
        f"{'batch':>5} | {'full img/s':>10} | {'bare backbone img/s':>19} | {'full/backbone':>13} |"
        f" {'bare network img/s':>18} | {'full/network':>12} |"
        f" {'ms per image: preprocess + forward + decode':>43}"
    )
    print("-" * 136)
    batches = [int(b) for b in args.batches.split(",")]
    if device.type == "cuda":
        batches = sorted(set(batches) | {64, 128, 256})
    best = (0, 0.0)
    for batch in batches:
        images = [pool[i % len(pool)] for i in range(batch)]
        stream = [pool[i % len(pool)] for i in range(STREAM_BATCHES * batch)]
        analyzer.batch_size = batch
        # the bare passes take the very input the full path feeds the network: its
        # letterboxed canvas (384x288 for these 640x480 images, 384x384 when compiled)
        tensor = prepare_shapenet(network, images, device=device, tight=forward is network).inputs
        rounds = _interleaved(
            [
                functools.partial(analyzer.analyze, stream),
                _bare(backbone, tensor, precision),
                _bare(forward, tensor, precision),
            ],
            rounds=args.rounds,
            seconds=args.seconds,
        )
        full_ips, bare_ips, network_ips = (
            len(inputs) / statistics.median(r[i] for r in rounds)
            for i, inputs in enumerate((stream, images, images))
        )
        to_backbone = statistics.median(STREAM_BATCHES * r[1] / r[0] for r in rounds)
        to_network = statistics.median(STREAM_BATCHES * r[2] / r[0] for r in rounds)
        phases = _phases(network, forward, images, device, precision, args.seconds)
        best = max(best, (batch, full_ips), key=lambda b: b[1])
        per_image = [1000 * t / batch for t in phases]
        print(
            f"{batch:>5} | {full_ips:>10.1f} | {bare_ips:>19.1f} | {to_backbone:>12.0%} |"
            f" {network_ips:>18.1f} | {to_network:>11.0%} |"
            f" {' + '.join(f'{ms:.2f}' for ms in per_image):>43}"
        )
    print(f"# best: batch {best[0]} at {best[1]:.1f} img/s (full system)")
    print(_mixed_line(analyzer, pool, args.seconds))
    print(_photo_line(analyzer, pool, args.seconds))
    if args.against is not None:
        _against(analyzer, args, registry, pool, batches)


def _against(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    analyzer: Analyzer,
    args: argparse.Namespace,
    registry: ModelRegistry,
    pool: list[Image.Image],
    batches: list[int],
) -> None:
    """The full system of ``--card`` against that of ``--against``, interleaved rounds."""
    detector, scene = card_specs(args.against)
    other = Analyzer(detector=detector, scene=scene, registry=registry)
    print(
        f"{'batch':>5} | {args.card.stem + ' img/s':>22} | {args.against.stem + ' img/s':>22} |"
        f" {'ratio':>6}"
    )
    for batch in batches:
        stream = [pool[i % len(pool)] for i in range(STREAM_BATCHES * batch)]
        analyzer.batch_size = other.batch_size = batch
        rounds = _interleaved(
            [functools.partial(analyzer.analyze, stream), functools.partial(other.analyze, stream)],
            rounds=args.rounds,
            seconds=args.seconds,
        )
        this_ips, other_ips = (
            len(stream) / statistics.median(r[i] for r in rounds) for i in range(2)
        )
        ratio = statistics.median(r[1] / r[0] for r in rounds)
        print(f"{batch:>5} | {this_ips:>22.1f} | {other_ips:>22.1f} | {ratio:>6.0%}")


if __name__ == "__main__":
    main()
