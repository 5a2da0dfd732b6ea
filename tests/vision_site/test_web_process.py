"""The web process stays light: serving pages and the API never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Everything a gunicorn worker loads: apps (admin autodiscovery included), every URL
# module and the views behind them.
LOAD_WEB = """
import sys
import django
django.setup()
from django.urls import get_resolver
def walk(patterns):
    for pattern in patterns:
        walk(getattr(pattern, "url_patterns", []))
        getattr(pattern, "callback", None)
walk(get_resolver().url_patterns)
import vision_site.wsgi
print(sorted(name for name in ("torch", "timm", "torchvision") if name in sys.modules))
"""


def test_web_process_does_not_import_torch() -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="vision_site.settings")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WEB],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
