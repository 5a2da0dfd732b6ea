"""The migrations that make a newer shipped network the default (0004 to 0007)."""

from __future__ import annotations

import pytest
from django.apps import apps

from ml_models.migrations._shipped import make_default, restore_default
from ml_models.models import ModelVersion
from tests.factories import ModelVersionFactory
from tests.ml_models.conftest import DEFAULT_CARD, WEIGHTS_DIR

pytestmark = pytest.mark.django_db

# the newest shipped network and the one it replaced
OLD, NEW = (path.stem for path in sorted(WEIGHTS_DIR.glob("*.json"))[-2:])


def _active(kind: str) -> str:
    return ModelVersion.objects.get(kind=kind, is_active=True).name


def test_the_newest_shipped_network_is_the_default() -> None:
    assert DEFAULT_CARD.stem == NEW
    assert _active("detector") == f"{NEW}-detector"
    assert _active("scene") == f"{NEW}-scene"


def test_handing_back_and_over_again_moves_only_the_shipped_defaults() -> None:
    restore_default(apps, OLD, NEW)
    assert (_active("detector"), _active("scene")) == (f"{OLD}-detector", f"{OLD}-scene")
    make_default(apps, OLD, NEW)
    assert (_active("detector"), _active("scene")) == (f"{NEW}-detector", f"{NEW}-scene")


def test_a_users_own_active_model_is_left_alone() -> None:
    restore_default(apps, OLD, NEW)
    ModelVersion.objects.filter(kind="detector").update(is_active=False)
    ModelVersionFactory(kind="detector", name="my-detector", is_active=True)
    make_default(apps, OLD, NEW)
    assert _active("detector") == "my-detector"
    assert _active("scene") == f"{NEW}-scene"


def test_a_missing_version_is_registered_from_its_card() -> None:
    ModelVersion.objects.filter(name__startswith=f"{NEW}-").delete()
    make_default(apps, OLD, NEW)
    detector = ModelVersion.objects.get(name=f"{NEW}-detector")
    assert detector.is_active
    assert detector.weights_path == f"{NEW}.safetensors"
    assert detector.card["weights_file"] == f"{NEW}.safetensors"
