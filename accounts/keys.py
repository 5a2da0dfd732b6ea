"""API keys: how they are made and how they are recognised without being stored."""

from __future__ import annotations

import hashlib
import secrets

# A recognisable prefix lets people (and secret scanners) tell a vision_site key apart
# from other secrets at a glance.
KEY_PREFIX = "vs_"
# How many leading characters of a key are kept, in clear, to identify it in lists.
KEY_PREFIX_LENGTH = 8


def api_key_generate() -> str:
    """A new key: the prefix and 32 random bytes (256 bits), URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    """SHA-256 of the key, hex.

    A plain (unsalted, fast) hash is enough: the key is 256 random bits, so unlike a
    password it cannot be guessed from its hash, and a fast hash keeps per-request
    authentication cheap.
    """
    return hashlib.sha256(key.encode()).hexdigest()
