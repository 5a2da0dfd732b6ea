"""vision_site: the project package (settings, URLs, the Celery app)."""

from __future__ import annotations

from vision_site.celery import app as celery_app

__all__ = ["celery_app"]
