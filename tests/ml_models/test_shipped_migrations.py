"""The migrations that make a newer shipped network the default (0004 to 0008)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ml_models.inference.spec import shipped_cards
from ml_models.migrations._shipped import make_default, restore_default
from ml_models.models import ModelVersion
from tests.factories import ModelVersionFactory
from tests.ml_models.conftest import DEFAULT_CARD, WEIGHTS_DIR

pytestmark = pytest.mark.django_db

# the newest shipped network and the one it replaced
OLD, NEW = (path.stem for path in shipped_cards(WEIGHTS_DIR)[-2:])


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


def test_cards_are_ordered_by_version_number(tmp_path: Path) -> None:
    for stem in ("shapenet-v10", "shapenet-v2", "shapenet-v9", "shapenet-v1"):
        (tmp_path / f"{stem}.json").write_text("{}", encoding="utf-8")
    assert [p.stem for p in shipped_cards(tmp_path)] == [
        "shapenet-v1",
        "shapenet-v2",
        "shapenet-v9",
        "shapenet-v10",
    ]


def test_the_v6_migration_hands_the_default_over_and_back() -> None:
    """Migration 0008 itself, backwards to 0007 and forwards again (inside the test's
    transaction, so the database is as before afterwards)."""
    MigrationExecutor(connection).migrate([("ml_models", "0007_shapenet_v5_default")])
    assert (_active("detector"), _active("scene")) == ("shapenet-v5-detector", "shapenet-v5-scene")
    MigrationExecutor(connection).migrate([("ml_models", "0008_shapenet_v6_default")])
    assert (_active("detector"), _active("scene")) == ("shapenet-v6-detector", "shapenet-v6-scene")
    assert ModelVersion.objects.filter(name__startswith="shapenet-v5-").count() == 2
