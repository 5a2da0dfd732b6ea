"""What a model version says about its weights, as plain data.

Kept free of torch so that the web process (selectors, admin, API) can describe model
versions without importing torch and timm (measured: 3 s and 860 MB per process).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHAPENET_FORMAT = "vision_site.shapenet/1"


@dataclass(frozen=True)
class ModelSpec:
    """What a ModelVersion row says about its weights (plain data, no ORM)."""

    name: str
    kind: str  # "detector" or "scene"
    architecture: str
    weights_path: Path
    classes: tuple[str, ...]
    input_size: int
    card: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_shapenet(self) -> bool:
        """Weights of our shared-backbone network (vs a plain timm classifier)."""
        return self.card.get("format") == SHAPENET_FORMAT


def card_specs(card_path: Path) -> tuple[ModelSpec, ModelSpec]:
    """The detector and scene specs of a ShapeNet card ``<stem>.json`` (its weights file
    beside it), named as the migrations register them: ``<stem>-detector``, ``<stem>-scene``."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    net = card["network"]
    specs = (
        ModelSpec(
            name=f"{card_path.stem}-{kind}",
            kind=kind,
            architecture=net["backbone"],
            weights_path=card_path.parent / card["weights_file"],
            classes=tuple(net[classes]),
            input_size=int(net["input_size"]),
            card=card,
        )
        for kind, classes in (("detector", "object_classes"), ("scene", "scene_classes"))
    )
    detector, scene = specs
    return detector, scene


def shipped_cards(weights_dir: Path) -> list[Path]:
    """The cards (``*.json``) in ``weights_dir``, oldest version first: ordered by the
    numbers in their names taken as numbers, so ``shapenet-v10`` follows ``shapenet-v9``
    (a string sort would put it before ``shapenet-v2``)."""

    def version(path: Path) -> tuple[tuple[int, str], ...]:
        parts = re.split(r"(\d+)", path.stem)
        return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts if p)

    return sorted(weights_dir.glob("*.json"), key=version)
