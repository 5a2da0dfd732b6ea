"""Make the shipped ``shapenet-v2`` weights the default, in place of ``shapenet-v1``.

v2 is v1 fine-tuned with one box regression per object class (see its card): objects of
different classes that share a centre — a traffic light's housing and its middle lamp —
keep their own boxes. Migration 0003 registers every shipped card, so on a fresh
install both versions exist by now; on an older install this registers v2. Either way
v2 takes over only where the active version of a kind is still the shipped v1: a
user's own choice of model is left alone. Reversing hands the kinds back to v1.
"""

from django.db import migrations

from ml_models.migrations._shipped import default_hand_over


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0003_register_shipped_models")]

    operations = [default_hand_over("shapenet-v1", "shapenet-v2")]
