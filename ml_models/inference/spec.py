"""What a model version says about its weights, as plain data.

Kept free of torch so that the web process (selectors, admin, API) can describe model
versions without importing torch and timm (measured: 3 s and 860 MB per process).
"""

from __future__ import annotations

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
