"""Make the shipped ``shapenet-v5`` weights the default, in place of ``shapenet-v4``.

v5 is v4 with depthwise-separable stride-4 layers (``NetworkConfig.separable_head``),
seeded from v4's and fine-tuned for 4 minutes on a GPU (see its card): the same scores
on the synthetic set, higher ones on the independent renderer's, at a third of the
dense head's cost on the CPU. As in 0004-0006, v5 takes over only where the active
version of a kind is still the shipped v4, and reversing hands the kinds back.
"""

from django.db import migrations

from ml_models.migrations._shipped import default_hand_over


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0006_shapenet_v4_default")]

    operations = [default_hand_over("shapenet-v4", "shapenet-v5")]
