"""Fixtures of the ML tests: the shipped default weights as inference specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_models.inference.predictor import Analyzer, ModelRegistry
from ml_models.inference.spec import ModelSpec

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "ml_models" / "weights"
# The newest shipped card is the default the migrations activate (0003, then 0004).
DEFAULT_CARD = sorted(WEIGHTS_DIR.glob("*.json"))[-1]
DEFAULT_MODELS = {
    "detector": f"{DEFAULT_CARD.stem}-detector",
    "scene": f"{DEFAULT_CARD.stem}-scene",
}


def shipped_specs() -> tuple[ModelSpec, ModelSpec]:
    """Detector and scene specs of the default shipped card (as the migrations register them)."""
    card_path = DEFAULT_CARD
    card = json.loads(card_path.read_text(encoding="utf-8"))
    net = card["network"]
    common = {
        "architecture": net["backbone"],
        "weights_path": WEIGHTS_DIR / card["weights_file"],
        "input_size": int(net["input_size"]),
        "card": card,
    }
    return (
        ModelSpec(
            name=f"{card_path.stem}-detector",
            kind="detector",
            classes=tuple(net["object_classes"]),
            **common,
        ),
        ModelSpec(
            name=f"{card_path.stem}-scene",
            kind="scene",
            classes=tuple(net["scene_classes"]),
            **common,
        ),
    )


@pytest.fixture(scope="session")
def shipped_analyzer() -> Analyzer:
    detector, scene = shipped_specs()
    return Analyzer(detector=detector, scene=scene, registry=ModelRegistry(), score_threshold=0.05)
