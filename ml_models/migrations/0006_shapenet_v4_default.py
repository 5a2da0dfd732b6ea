"""Make the shipped ``shapenet-v4`` weights the default, in place of ``shapenet-v3``.

v4 is v3 fine-tuned for 4.5 minutes on a GPU, on 3.7 times as many generated images as
v3's fine-tune saw (see its card); it scores higher on the synthetic set and on the
independent renderer's. As in 0004 and 0005, v4 takes over only where the active version
of a kind is still the shipped v3, and reversing hands the kinds back.
"""

from django.db import migrations

from ml_models.migrations._shipped import default_hand_over


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0005_shapenet_v3_default")]

    operations = [default_hand_over("shapenet-v3", "shapenet-v4")]
