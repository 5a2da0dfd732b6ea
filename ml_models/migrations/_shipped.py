"""What the migrations that register the shipped networks have in common.

Django's migration loader skips modules whose names start with an underscore, so this is
a plain helper. It reads the shipped cards in ``ml_models/weights``, which never change
once shipped, so a migration that uses it does the same on every install.
"""

import functools
import json
from pathlib import Path

from django.db import migrations

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def card_versions(stem, card):
    """The detector and scene versions of the card ``<stem>.json``, as model fields
    (a kind without classes has no version)."""
    network = card["network"]
    for kind, classes in (
        ("detector", network["object_classes"]),
        ("scene", network["scene_classes"]),
    ):
        if classes:
            yield {
                "kind": kind,
                "name": f"{stem}-{kind}",
                "architecture": network["backbone"],
                "weights_path": card["weights_file"],
                "classes": list(classes),
                "input_size": int(network["input_size"]),
                "card": card,
                "metrics": card.get("metrics", {}),
            }


def shipped_versions(stem):
    """The versions of the shipped card ``<stem>.json``."""
    card = json.loads((WEIGHTS_DIR / f"{stem}.json").read_text(encoding="utf-8"))
    return card_versions(stem, card)


def hand_over(ModelVersion, kind, old, new):  # the historical model class
    """Activate ``new`` for ``kind`` only where nothing or the shipped ``old`` is active:
    a user's own choice of model is left alone."""
    active = ModelVersion.objects.filter(kind=kind, is_active=True).first()
    if active is None or active.name == f"{old}-{kind}":
        # deactivate first: at most one active version per kind (a unique constraint)
        ModelVersion.objects.filter(kind=kind, is_active=True).update(is_active=False)
        ModelVersion.objects.filter(name=f"{new}-{kind}").update(is_active=True)


def make_default(apps, old, new):
    """Register the shipped ``new`` if it is missing and hand each kind over from ``old``."""
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    for fields in shipped_versions(new):
        if not ModelVersion.objects.filter(name=fields["name"]).exists():
            ModelVersion.objects.create(**fields, is_active=False)
        hand_over(ModelVersion, fields["kind"], old, new)


def restore_default(apps, old, new):
    """Undo ``make_default``: hand each kind back from ``new`` to ``old``."""
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    for kind in ("detector", "scene"):
        hand_over(ModelVersion, kind, new, old)


def _forward(apps, schema_editor, *, old, new):
    make_default(apps, old, new)


def _backward(apps, schema_editor, *, old, new):
    restore_default(apps, old, new)


def default_hand_over(old, new):
    """The operation that makes the shipped ``new`` the default in place of ``old``."""
    return migrations.RunPython(
        functools.partial(_forward, old=old, new=new),
        functools.partial(_backward, old=old, new=new),
    )
