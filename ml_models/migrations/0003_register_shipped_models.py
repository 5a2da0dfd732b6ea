"""Register and activate the model weights shipped in ml_models/weights/.

Each shipped JSON card (format ``vision_site.shapenet/1``) describes one shared-backbone
network; it becomes a detector version ``<stem>-detector`` and a scene version
``<stem>-scene``, both pointing at the same weights file (paths relative to
MODEL_WEIGHTS_DIR). They are activated only where no version of that kind is active, so
re-running on a database with a user's own active models changes nothing for them.
"""

import json
from pathlib import Path

from django.db import migrations

from ml_models.migrations._shipped import card_versions

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
CARD_FORMAT = "vision_site.shapenet/1"


def _shipped_versions():
    for card_path in sorted(WEIGHTS_DIR.glob("*.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("format") == CARD_FORMAT:
            yield from card_versions(card_path.stem, card)


def register(apps, schema_editor):
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    for fields in _shipped_versions():
        if ModelVersion.objects.filter(name=fields["name"]).exists():
            continue
        active = ModelVersion.objects.filter(kind=fields["kind"], is_active=True).exists()
        ModelVersion.objects.create(**fields, is_active=not active)


def unregister(apps, schema_editor):
    ModelVersion = apps.get_model("ml_models", "ModelVersion")
    names = [fields["name"] for fields in _shipped_versions()]
    ModelVersion.objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0002_seed_spec_classes")]

    operations = [migrations.RunPython(register, unregister)]
