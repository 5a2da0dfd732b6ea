"""Make the shipped ``shapenet-v2`` weights the default, in place of ``shapenet-v1``.

v2 is v1 fine-tuned with one box regression per object class (see its card): objects of
different classes that share a centre — a traffic light's housing and its middle lamp —
keep their own boxes. Migration 0003 registers every shipped card, so on a fresh
install both versions exist by now; on an older install this registers v2. Either way
v2 takes over only where the active version of a kind is still the shipped v1: a
user's own choice of model is left alone. Reversing hands the kinds back to v1.
"""

import json
from pathlib import Path

from django.db import migrations

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
OLD, NEW = "shapenet-v1", "shapenet-v2"


def _new_versions():
    card = json.loads((WEIGHTS_DIR / f"{NEW}.json").read_text(encoding="utf-8"))
    network = card["network"]
    for kind, classes in (
        ("detector", network["object_classes"]),
        ("scene", network["scene_classes"]),
    ):
        yield {
            "kind": kind,
            "name": f"{NEW}-{kind}",
            "architecture": network["backbone"],
            "weights_path": card["weights_file"],
            "classes": list(classes),
            "input_size": int(network["input_size"]),
            "card": card,
            "metrics": card.get("metrics", {}),
        }


def _hand_over(ModelVersion, kind, old, new):
    active = ModelVersion.objects.filter(kind=kind, is_active=True).first()
    if active is None or active.name == f"{old}-{kind}":
        # deactivate first: at most one active version per kind (a unique constraint)
        ModelVersion.objects.filter(kind=kind, is_active=True).update(is_active=False)
        ModelVersion.objects.filter(name=f"{new}-{kind}").update(is_active=True)


def forward(apps, schema_editor):
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    for fields in _new_versions():
        if not ModelVersion.objects.filter(name=fields["name"]).exists():
            ModelVersion.objects.create(**fields, is_active=False)
        _hand_over(ModelVersion, fields["kind"], OLD, NEW)


def backward(apps, schema_editor):
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    for kind in ("detector", "scene"):
        _hand_over(ModelVersion, kind, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0003_register_shipped_models")]

    operations = [migrations.RunPython(forward, backward)]
