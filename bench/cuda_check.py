"""Does the CUDA path give the CPU's answers? (a script for a machine with a GPU)

    HF_HUB_OFFLINE=1 python bench/cuda_check.py [--card ml_models/weights/X.json] [--images 48]

CI has no GPU, so the tests cover the GPU's code paths on the CPU (the letterbox that
resizes on the device, the batched decoding). This script runs them where they are
meant to run: it letterboxes generated images of mixed sizes and modes on the GPU and on
the CPU and compares the pixels, then analyses the same images with the shipped models on
both (bf16 on the GPU, fp32 on the CPU) and compares scenes and confident detections.
It exits non-zero when they disagree beyond what bf16 explains.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# pylint: disable=wrong-import-position

from ml_models.inference.predictor import Analyzer, ImageAnalysis, ModelRegistry
from ml_models.inference.preprocess import batch_images
from ml_models.inference.spec import card_specs, shipped_cards
from ml_models.training.synthetic import SceneGenerator

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "ml_models" / "weights"
CONFIDENT = 0.5  # detections compared: those either side is sure of
MATCH_IOU = 0.9


def _matched(ours: ImageAnalysis, theirs: ImageAnalysis) -> tuple[int, int]:
    """(confident objects of ``ours`` that ``theirs`` also found, confident objects)."""
    found = 0
    confident = [o for o in ours.objects if o["score"] >= CONFIDENT]
    for obj in confident:
        twins = [other["box"] for other in theirs.objects if other["label"] == obj["label"]]
        overlaps = box_iou(torch.tensor([obj["box"]]), torch.tensor(twins or [[0.0] * 4]))
        found += float(overlaps.max()) >= MATCH_IOU
    return found, len(confident)


def _images(count: int) -> list[Image.Image]:
    """Generated scenes in several sizes and modes, as uploads arrive."""
    generator = SceneGenerator(seed=99, min_side=240, max_side=900)
    images = []
    for i in range(count):
        image = generator.sample(i).image
        if i % 5 == 1:
            image = image.convert("P", palette=Image.Palette.ADAPTIVE)
        elif i % 5 == 2:
            image = image.convert("L")
        images.append(image)
    return images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    cards = shipped_cards(WEIGHTS_DIR)
    parser.add_argument("--card", type=Path, default=cards[-1])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script")
    args = parser.parse_args()
    gpu = torch.device(args.device)
    if gpu.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here")
        return 2
    images = _images(args.images)
    detector, scene = card_specs(args.card)

    on_gpu, boxed_gpu = batch_images(images, detector.input_size, gpu)
    on_cpu, boxed_cpu = batch_images(images, detector.input_size)
    difference = (on_gpu.cpu().int() - on_cpu.int()).abs()
    print(
        f"letterbox, GPU vs CPU: max pixel difference {int(difference.max())}, "
        f"{float((difference > 0).float().mean()):.2%} of values differ; scales equal: "
        f"{[b.scale for b in boxed_gpu] == [b.scale for b in boxed_cpu]}"
    )

    results = {}
    for name, device, precision in (("cpu", torch.device("cpu"), "fp32"), ("gpu", gpu, "auto")):
        registry = ModelRegistry(device, precision=precision)
        analyzer = Analyzer(detector=detector, scene=scene, registry=registry, batch_size=16)
        results[name] = analyzer.analyze(images)
        print(f"{name}: {registry.device} {registry.precision}")
    scenes = sum(
        a.scene is not None and b.scene is not None and a.scene["label"] == b.scene["label"]
        for a, b in zip(results["cpu"], results["gpu"], strict=True)
    )
    cpu_found = [_matched(a, b) for a, b in zip(results["cpu"], results["gpu"], strict=True)]
    gpu_found = [_matched(b, a) for a, b in zip(results["cpu"], results["gpu"], strict=True)]
    cpu_share = sum(f for f, _ in cpu_found) / max(1, sum(n for _, n in cpu_found))
    gpu_share = sum(f for f, _ in gpu_found) / max(1, sum(n for _, n in gpu_found))
    print(
        f"scenes agree: {scenes}/{len(images)}; confident CPU detections the GPU also finds "
        f"(same label, IoU >= {MATCH_IOU}): {cpu_share:.1%} of {sum(n for _, n in cpu_found)}; "
        f"the other way: {gpu_share:.1%} of {sum(n for _, n in gpu_found)}"
    )
    agree = int(difference.max()) <= 1 and scenes >= 0.95 * len(images)
    agree = agree and min(cpu_share, gpu_share) >= 0.95
    print("AGREE" if agree else "DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
