"""Make the shipped ``shapenet-v3`` weights the default, in place of ``shapenet-v2``.

v3 is v2 fine-tuned on a generator whose striped backgrounds include bold stripes of two
unrelated colours (see its card): v2 missed 23 % of the shapes drawn on such stripes by
the independent renderer (``bench/heldout.py``). As in 0004, v3 takes over only where the
active version of a kind is still the shipped v2, and reversing hands the kinds back.
"""

from django.db import migrations

from ml_models.migrations._shipped import default_hand_over


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0004_shapenet_v2_default")]

    operations = [default_hand_over("shapenet-v2", "shapenet-v3")]
