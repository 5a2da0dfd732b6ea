"""``manage.py evaluate``: measure model versions and store the metrics and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_models.models import ModelVersion
from ml_models.selectors import model_version_active, model_version_get
from ml_models.services import TrainingData, models_evaluate, models_evaluate_robustness
from ml_models.training.robustness import DEFAULT_COUNT, DEFAULT_SEED, FACTORS


class Command(BaseCommand):
    help = (
        "Detection mAP@0.5 and mAP@0.5:0.95 (pycocotools) and scene accuracy + confusion "
        "matrix, on a freshly generated synthetic set or your labelled data. Stores the "
        "metrics on the versions and saves plots under MEDIA_ROOT/model_metrics/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--detector", default=None, help="version name (default: active)")
        parser.add_argument("--scene", default=None, help="version name (default: active)")
        parser.add_argument("--count", type=int, default=500, help="synthetic images to generate")
        parser.add_argument("--seed", type=int, default=12345)
        parser.add_argument("--coco", type=Path, default=None, help="COCO detection JSON")
        parser.add_argument("--images", type=Path, default=None, help="images folder of --coco")
        parser.add_argument("--folders", type=Path, default=None, help="one folder per scene class")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")
        parser.add_argument(
            "--robustness",
            nargs="*",
            metavar="FACTOR",
            default=None,
            help=(
                "instead: the robustness evaluation, one factor at a time (all by default): "
                + ", ".join(FACTORS)
            ),
        )
        parser.add_argument(
            "--per-factor",
            type=int,
            default=DEFAULT_COUNT,
            help="images per robustness factor",
        )
        parser.add_argument(
            "--robustness-seed", type=int, default=DEFAULT_SEED, help="seed of the robustness sets"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            detector = (
                model_version_get(name=options["detector"])
                if options["detector"]
                else model_version_active(kind=ModelVersion.Kind.DETECTOR)
            )
            scene = (
                model_version_get(name=options["scene"])
                if options["scene"]
                else model_version_active(kind=ModelVersion.Kind.SCENE)
            )
        except ModelVersion.DoesNotExist as error:
            raise CommandError(str(error)) from error
        if detector is None and scene is None:
            raise CommandError("no model versions to evaluate")
        if options["robustness"] is not None:
            self._robustness(detector, scene, options)
            return
        report = models_evaluate(
            detector=detector,
            scene=scene,
            data=TrainingData(
                coco_json=options["coco"],
                images_dir=options["images"],
                class_folders=options["folders"],
            ),
            count=options["count"],
            seed=options["seed"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(f"images: {report['images']} ({report['source']})")
        if "detection" in report and detector is not None:
            det = report["detection"]
            self.stdout.write(
                f"detector {detector.name}: mAP@0.5 {det['map_50']:.4f}  "
                f"mAP@0.5:0.95 {det['map_50_95']:.4f}  plot: {det.get('plot', '-')}"
            )
            for name, ap in det["per_class_ap"].items():
                self.stdout.write(
                    f"  {name:<12} AP@0.5 {det['per_class_ap50'][name]:.4f}  AP {ap:.4f}"
                )
        if "scene" in report and scene is not None:
            sc = report["scene"]
            self.stdout.write(
                f"scene {scene.name}: accuracy {sc['accuracy']:.4f}  plot: {sc.get('plot', '-')}"
            )
            for row in sc["confusion"]:
                self.stdout.write("  " + " ".join(f"{v:4d}" for v in row))

    def _robustness(
        self, detector: ModelVersion | None, scene: ModelVersion | None, options: dict[str, Any]
    ) -> None:
        if options["per_factor"] < 1:
            raise CommandError("--per-factor must be at least 1")
        try:
            report = models_evaluate_robustness(
                detector=detector,
                scene=scene,
                factors=options["robustness"],
                count=options["per_factor"],
                seed=options["robustness_seed"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        names = " / ".join(v.name for v in (detector, scene) if v is not None)
        self.stdout.write(
            f"robustness of {names}: {report['count_per_factor']} images per factor, "
            f"seed {report['seed']}"
        )
        self.stdout.write(
            f"  {'factor':<20}{'mAP50':>8}{'mAP50:95':>10}{'recall':>8}"
            f"{'false/img':>11}{'scene':>8}"
        )
        for name, result in report["factors"].items():
            det, sc = result.get("detection"), result.get("scene")
            point = det["at_threshold"] if det else None
            self.stdout.write(
                f"  {name:<20}"
                + (f"{det['map_50']:>8.3f}{det['map_50_95']:>10.3f}" if det else f"{'-':>18}")
                + (
                    f"{point['recall']:>8.3f}{point['false_per_image']:>11.2f}"
                    if point
                    else f"{'-':>19}"
                )
                + (f"{sc['accuracy']:>8.3f}" if sc else f"{'-':>8}")
            )
