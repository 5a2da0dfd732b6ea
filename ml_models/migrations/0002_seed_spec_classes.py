"""Seed the class dictionaries with the classes of SPEC.md."""

from __future__ import annotations

from typing import Any

from django.db import migrations

OBJECT_CLASSES = [
    ("circle", "Circle", "#e6194b", "A round disc or ring (aspect 1)."),
    ("ellipse", "Ellipse", "#3cb44b", "An ellipse whose axis ratio is 1.5 or more, any rotation."),
    (
        "triangle",
        "Triangle",
        "#ffe119",
        "Any triangle whose smallest angle is at least 25 degrees.",
    ),
    ("square", "Square", "#4363d8", "Four equal sides, right angles, any rotation."),
    ("rectangle", "Rectangle", "#f58231", "Right angles, long side / short side >= 1.5."),
    ("pentagon", "Pentagon", "#911eb4", "A regular pentagon, any rotation."),
    ("hexagon", "Hexagon", "#42d4f4", "A regular hexagon, any rotation."),
    ("star", "Star", "#f032e6", "A five-pointed star, inner/outer radius ratio 0.35-0.55."),
]

SCENE_CLASSES = [
    ("house", "House", "#9a6324", "A square or rectangle body with a triangle roof on top."),
    ("snowman", "Snowman", "#469990", "Two or three circles stacked vertically, smaller upwards."),
    (
        "traffic_light",
        "Traffic light",
        "#800000",
        "A tall rectangle holding three stacked circles.",
    ),
    ("car", "Car", "#000075", "A wide rectangle body with two circle wheels on its bottom edge."),
    ("tree", "Tree", "#3cb44b", "A thin upright rectangle trunk under a triangle or circle crown."),
    ("flower", "Flower", "#f032e6", "A centre circle surrounded by 5-8 ellipse petals."),
    ("random", "Random", "#808080", "Three to eight primitives with none of the compositions."),
]


def seed(apps: Any, schema_editor: Any) -> None:
    object_class = apps.get_model("ml_models", "ObjectClass")
    scene_class = apps.get_model("ml_models", "SceneClass")
    for model, rows in ((object_class, OBJECT_CLASSES), (scene_class, SCENE_CLASSES)):
        for name, display_name, colour, description in rows:
            model.objects.using(schema_editor.connection.alias).update_or_create(
                name=name,
                defaults={
                    "display_name": display_name,
                    "colour": colour,
                    "description": description,
                },
            )


def unseed(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    apps.get_model("ml_models", "ObjectClass").objects.using(alias).filter(
        name__in=[row[0] for row in OBJECT_CLASSES]
    ).delete()
    apps.get_model("ml_models", "SceneClass").objects.using(alias).filter(
        name__in=[row[0] for row in SCENE_CLASSES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
