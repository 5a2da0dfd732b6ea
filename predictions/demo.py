"""The demo that ``manage.py up`` seeds: a demo account and generated sample images."""

from __future__ import annotations

import secrets
from pathlib import Path

from accounts.models import User
from accounts.services import api_token_create

DEMO_USERNAME = "demo"
DEMO_IMAGES = 12
DEMO_SEED = 2026


def demo_user_ensure() -> tuple[User, str, str]:
    """The demo user with a fresh password and a fresh API token (both returned)."""
    user, _ = User.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
    )
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    _, key = api_token_create(user=user, name="demo (manage.py up)")
    return user, password, key


def demo_images_write(folder: Path, count: int = DEMO_IMAGES) -> list[Path]:
    """Render ``count`` synthetic scenes (the models' own generator) as JPEG files."""
    from ml_models.training.synthetic import SceneGenerator

    folder.mkdir(parents=True, exist_ok=True)
    generator = SceneGenerator(seed=DEMO_SEED)
    paths = []
    for index in range(count):
        sample = generator.sample(index)
        path = folder / f"demo-{index:02d}-{sample.scene}.jpg"
        sample.image.convert("RGB").save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths
