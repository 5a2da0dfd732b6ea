"""Reads of model versions, and their translation into plain inference specs."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from ml_models.inference.spec import ModelSpec
from ml_models.models import ModelVersion


def model_version_active(*, kind: str) -> ModelVersion | None:
    """The active version of ``kind`` ("detector" or "scene"), or None."""
    return ModelVersion.objects.filter(kind=kind, is_active=True).first()


def model_version_get(*, name: str) -> ModelVersion:
    """The version called ``name`` (raises ``ModelVersion.DoesNotExist``)."""
    return ModelVersion.objects.get(name=name)


def model_version_list(*, kind: str | None = None) -> QuerySet[ModelVersion]:
    """Versions, newest first, optionally of one kind."""
    versions = ModelVersion.objects.all()
    if kind:
        versions = versions.filter(kind=kind)
    return versions.order_by("kind", "-created_at")


SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def model_version_weights_file(*, version: ModelVersion) -> Path:
    """Absolute path of a version's weights.

    Relative paths live under MODEL_WEIGHTS_DIR; the weights shipped in the repository are
    found even when MODEL_WEIGHTS_DIR points elsewhere.
    """
    path = Path(version.weights_path)
    if path.is_absolute():
        return path
    configured = Path(settings.MODEL_WEIGHTS_DIR) / path
    shipped = SHIPPED_WEIGHTS_DIR / path
    return shipped if not configured.exists() and shipped.exists() else configured


def model_version_spec(*, version: ModelVersion) -> ModelSpec:
    """The plain-data description of a version that ``ml_models.inference`` runs."""
    return ModelSpec(
        name=version.name,
        kind=version.kind,
        architecture=version.architecture,
        weights_path=model_version_weights_file(version=version),
        classes=tuple(version.classes),
        input_size=version.input_size,
        card=dict(version.card or {}),
    )
