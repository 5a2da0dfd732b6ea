from __future__ import annotations

from rest_framework import serializers

from ml_models.models import ModelVersion, ObjectClass, SceneClass


class ObjectClassSerializer(serializers.ModelSerializer[ObjectClass]):
    class Meta:
        model = ObjectClass
        fields = ["id", "name", "display_name", "colour", "description", "is_active"]


class SceneClassSerializer(serializers.ModelSerializer[SceneClass]):
    class Meta:
        model = SceneClass
        fields = ["id", "name", "display_name", "colour", "description", "is_active"]


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "name",
            "architecture",
            "classes",
            "input_size",
            "metrics",
            "is_active",
            "created_at",
        ]
