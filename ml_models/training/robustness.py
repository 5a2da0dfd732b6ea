"""The robustness evaluation: the models measured one factor of real-world trouble at a
time, on generator families that training never draws.

Training (``clutter.TRAINING_WORLD``) sees every background family but
:data:`clutter.HELDOUT_BACKGROUNDS` and every damage but :data:`clutter.HELDOUT_DAMAGE`.
The factors below vary one thing against the plain generator, then put everything,
held-out families included, together (``all_heldout``: the nearest thing here to
SPEC.md's scenes drawn over photographs). Each factor has its own seed, apart from the
training stream's and the validation set's, so the sets are the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ml_models.training.clutter import (
    HELDOUT_BACKGROUNDS,
    HELDOUT_DAMAGE,
    TRAIN_BACKGROUNDS,
    TRAIN_DAMAGE,
    World,
)
from ml_models.training.data import LabelledImage, synthetic_item
from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES, SceneGenerator

# factor name -> the world its images are drawn in (None: the plain generator)
FACTORS: dict[str, World | None] = {
    "clean": None,
    "clutter": World(backgrounds=TRAIN_BACKGROUNDS, negatives=0, damage=(), plain_rate=0.0),
    "hard_negatives": World(backgrounds=(), negatives=5, foreground=0, damage=()),
    "damage": World(
        backgrounds=(), negatives=0, foreground=0, damage=TRAIN_DAMAGE, damage_rate=0.5
    ),
    "heldout_background": World(
        backgrounds=HELDOUT_BACKGROUNDS, negatives=0, foreground=0, damage=(), plain_rate=0.0
    ),
    "heldout_damage": World(
        backgrounds=(), negatives=0, foreground=0, damage=HELDOUT_DAMAGE, damage_rate=1.0
    ),
    "all_heldout": World(
        backgrounds=(*TRAIN_BACKGROUNDS, *HELDOUT_BACKGROUNDS),
        negatives=5,
        damage=(*TRAIN_DAMAGE, *HELDOUT_DAMAGE),
        damage_rate=0.4,
        plain_rate=0.0,
    ),
}
DEFAULT_SEED = 20_261_208  # no training or validation stream uses it
DEFAULT_COUNT = 140  # images per factor


def factor_items(
    factor: str, *, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED
) -> list[LabelledImage]:
    """The ``count`` labelled images of one factor (the same for the same seed)."""
    if factor not in FACTORS:
        raise ValueError(f"unknown robustness factor {factor!r}: one of {', '.join(FACTORS)}")
    world = FACTORS[factor]
    generator = SceneGenerator(seed=seed + list(FACTORS).index(factor), world=world)
    return [synthetic_item(generator, i, OBJECT_CLASSES, SCENE_CLASSES) for i in range(count)]


def factor_names(names: Sequence[str] | None = None) -> list[str]:
    """The factors asked for, checked, in the order of :data:`FACTORS` (all by default)."""
    if not names:
        return list(FACTORS)
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        raise ValueError(
            f"unknown robustness factor(s) {', '.join(unknown)}: one of {', '.join(FACTORS)}"
        )
    return [n for n in FACTORS if n in names]
