"""Class dictionaries and model versions.

The detector's object classes and the scene classifier's scene classes are rows that
staff edit in the admin; predictions point at them. A model version records one set of
weights: which architecture, where the file lives, which classes its outputs mean (in
output order), its training card and its measured metrics.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ClassDictionaryEntry(models.Model):
    """Shared fields of the two class dictionaries."""

    name = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, default="#1f77b4", help_text="Hex colour, #rrggbb.")
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class ObjectClass(ClassDictionaryEntry):
    """A primitive the detector finds (circle, triangle, ...)."""

    class Meta(ClassDictionaryEntry.Meta):
        verbose_name = "object class"
        verbose_name_plural = "object classes"


class SceneClass(ClassDictionaryEntry):
    """A composition the scene classifier names (house, snowman, ...)."""

    class Meta(ClassDictionaryEntry.Meta):
        verbose_name = "scene class"
        verbose_name_plural = "scene classes"


class ModelVersion(models.Model):
    """One set of weights for the detector or the scene classifier.

    At most one version per kind is active; the worker runs the active ones.
    """

    class Kind(models.TextChoices):
        DETECTOR = "detector", "Detector"
        SCENE = "scene", "Scene classifier"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.SlugField(max_length=100, unique=True)
    architecture = models.CharField(max_length=100, help_text="timm architecture name.")
    weights_path = models.CharField(
        max_length=500, help_text="Weights file; relative paths are under MODEL_WEIGHTS_DIR."
    )
    classes = models.JSONField(default=list, help_text="Class names in model output order.")
    input_size = models.PositiveIntegerField(default=320)
    card = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)

    class Meta:
        ordering = ["kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(is_active=True), name="one_active_model_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"
