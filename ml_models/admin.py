from __future__ import annotations

from django.contrib import admin

from ml_models.models import ModelVersion, ObjectClass, SceneClass


@admin.register(ObjectClass, SceneClass)
class ClassDictionaryAdmin(admin.ModelAdmin[ObjectClass | SceneClass]):
    list_display = ("name", "display_name", "colour", "is_active")
    list_editable = ("display_name", "colour", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "display_name", "description")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ("name", "kind", "architecture", "input_size", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "architecture")
    readonly_fields = ("created_at",)
