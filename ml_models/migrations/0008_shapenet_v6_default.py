"""Make the shipped ``shapenet-v6`` weights the default, in place of ``shapenet-v5``.

v6 is v5 fine-tuned on a stream in which most images are drawn in the cluttered world
of ``ml_models.training.clutter`` (procedural clutter behind, among and in front of the
shapes, unlabelled hard negatives, photographic damage), so that it holds up over real
photographs (issue 16; its card records both evaluations). Same network as v5, so the
same speed. As in 0004-0007, v6 takes over only where the active version of a kind is
still the shipped v5, and reversing hands the kinds back.
"""

from django.db import migrations

from ml_models.migrations._shipped import default_hand_over


class Migration(migrations.Migration):
    dependencies = [("ml_models", "0007_shapenet_v5_default")]

    operations = [default_hand_over("shapenet-v5", "shapenet-v6")]
