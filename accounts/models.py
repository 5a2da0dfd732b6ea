from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user; custom from the first migration so it can grow safely."""

    class Meta:
        swappable = "AUTH_USER_MODEL"
        verbose_name = "user"
        verbose_name_plural = "users"
