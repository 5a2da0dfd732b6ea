"""``manage.py train``: train the detector and/or scene classifier, register the result."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ml_models.services import TrainingData, model_train


class Command(BaseCommand):
    help = (
        "Train the shared-backbone network on synthetic data (or your COCO file / class "
        "folders), save fp16 safetensors + JSON card under MODEL_WEIGHTS_DIR and register "
        "the new model version(s)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            choices=["joint", "detector", "scene"],
            default="joint",
            help="joint: one network, both heads, registered as a detector and a scene version",
        )
        parser.add_argument("--steps", type=int, default=6000)
        parser.add_argument("--max-minutes", type=float, default=0.0, help="wall-clock budget")
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--val-every", type=int, default=500)
        parser.add_argument("--val-size", type=int, default=200)
        parser.add_argument(
            "--run-dir", type=Path, default=None, help="checkpoints (var/checkpoints/<name>)"
        )
        parser.add_argument("--resume", action="store_true", help="continue from run-dir/last.pt")
        parser.add_argument("--name", default=None, help="version name (default: timestamped)")
        parser.add_argument(
            "--activate", action="store_true", help="make the new version(s) active"
        )
        parser.add_argument("--coco", type=Path, default=None, help="COCO detection JSON")
        parser.add_argument("--images", type=Path, default=None, help="images folder of --coco")
        parser.add_argument("--folders", type=Path, default=None, help="one folder per scene class")
        parser.add_argument(
            "--init-from",
            type=Path,
            default=None,
            help="fine-tune from these weights (e.g. ml_models/weights/shapenet-v3.safetensors)",
        )
        parser.add_argument(
            "--box-per-class", action="store_true", help="one box regression per object class"
        )
        parser.add_argument(
            "--separable-head",
            action="store_true",
            help="depthwise-separable stride-4 layers, as the shipped shapenet-v5 has",
        )
        parser.add_argument(
            "--separable-neck",
            action="store_true",
            help="depthwise-separable stride-8 and stride-16 smoothing layers too",
        )
        parser.add_argument(
            "--teacher",
            type=Path,
            default=None,
            help="a trained network's card (JSON): the new neck learns to reproduce its neck",
        )
        parser.add_argument(
            "--freeze-backbone",
            action="store_true",
            help="train only the neck and heads (the backbone as --init-from gave it)",
        )
        parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
        parser.add_argument(
            "--clutter-rate",
            type=float,
            default=0.0,
            help=(
                "share of synthetic images drawn in the cluttered, damaged world with hard "
                "negatives (ml_models.training.clutter); shapenet-v6 used 0.7"
            ),
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        versions = model_train(
            kind=options["kind"],
            data=TrainingData(
                coco_json=options["coco"],
                images_dir=options["images"],
                class_folders=options["folders"],
            ),
            steps=options["steps"],
            batch_size=options["batch_size"],
            seed=options["seed"],
            max_minutes=options["max_minutes"],
            resume=options["resume"],
            run_dir=options["run_dir"],
            name=options["name"],
            activate=options["activate"],
            val_every=options["val_every"],
            val_size=options["val_size"],
            progress=not options["no_progress"],
            init_from=options["init_from"],
            box_per_class=options["box_per_class"],
            separable_head=options["separable_head"],
            separable_neck=options["separable_neck"],
            teacher=options["teacher"],
            freeze_backbone=options["freeze_backbone"],
            lr=options["lr"],
            clutter_rate=options["clutter_rate"],
            command="python manage.py " + shlex.join(sys.argv[1:]),
        )
        for version in versions:
            state = "active" if version.is_active else "inactive"
            self.stdout.write(
                f"registered {version.kind} {version.name} ({state}): {version.weights_path}"
            )
