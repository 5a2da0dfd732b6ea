"""``manage.py import_model``: register an external checkpoint as a model version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_models.services import model_import


class Command(BaseCommand):
    help = (
        "Register external weights: --kind scene takes any timm classifier (architecture "
        "name + state dict with len(classes) outputs); --kind detector takes this project's "
        "detector on a timm backbone. The file is loaded strictly before it is accepted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=["detector", "scene"], required=True)
        parser.add_argument("--architecture", required=True, help="timm model name, e.g. resnet18")
        parser.add_argument("--weights", type=Path, required=True, help=".safetensors, .pt or .pth")
        parser.add_argument(
            "--classes", required=True, help="comma-separated class names in output order, or @file"
        )
        parser.add_argument("--name", required=True, help="version name (a slug)")
        parser.add_argument("--input-size", type=int, default=320)
        parser.add_argument("--backbone-kwargs", default="{}", help="JSON, detector only")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        classes_arg: str = options["classes"]
        if classes_arg.startswith("@"):
            classes_arg = Path(classes_arg[1:]).read_text(encoding="utf-8").replace("\n", ",")
        classes = [c.strip() for c in classes_arg.split(",") if c.strip()]
        if not options["weights"].is_file():
            raise CommandError(f"{options['weights']}: no such file")
        try:
            version = model_import(
                kind=options["kind"],
                architecture=options["architecture"],
                weights=options["weights"],
                classes=classes,
                name=options["name"],
                input_size=options["input_size"],
                backbone_kwargs=json.loads(options["backbone_kwargs"]),
                activate=options["activate"],
            )
        except (RuntimeError, ValueError, KeyError) as error:
            raise CommandError(f"{options['weights']}: cannot be imported: {error}") from error
        state = "active" if version.is_active else "inactive"
        self.stdout.write(
            f"imported {version.kind} {version.name} ({state}): {version.weights_path}"
        )
