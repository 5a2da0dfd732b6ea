"""Fixtures of the ML tests: the shipped default weights as inference specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_models.inference.predictor import Analyzer, ModelRegistry
from ml_models.inference.spec import ModelSpec, card_specs, shipped_cards

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "ml_models" / "weights"
# The newest shipped card is the default the migrations activate (0003, then 0004-0006).
DEFAULT_CARD = shipped_cards(WEIGHTS_DIR)[-1]
DEFAULT_MODELS = {
    "detector": f"{DEFAULT_CARD.stem}-detector",
    "scene": f"{DEFAULT_CARD.stem}-scene",
}


def shipped_specs() -> tuple[ModelSpec, ModelSpec]:
    """Detector and scene specs of the default shipped card (as the migrations register them)."""
    return card_specs(DEFAULT_CARD)


@pytest.fixture(scope="session")
def shipped_analyzer() -> Analyzer:
    detector, scene = shipped_specs()
    return Analyzer(detector=detector, scene=scene, registry=ModelRegistry(), score_threshold=0.05)
