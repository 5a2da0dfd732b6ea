"""``manage.py up``: start the worker and the web server, seed a demo, print the URL.

Run by ``make up`` after the databases exist and every alias is migrated. The worker,
Celery beat (the periodic sweep) and gunicorn keep running in the background; their
logs and pid files live in ``var/``. ``manage.py up --stop`` stops them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.client import VisionClient, wait_until_answering
from predictions.demo import demo_images_write, demo_user_ensure

VAR = Path(settings.BASE_DIR) / "var"


def _pid_file(name: str) -> Path:
    return VAR / "run" / f"{name}.pid"


def _running(name: str) -> int | None:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


class Command(BaseCommand):
    help = "Start worker and web server in the background, submit demo images, print the URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("VISION_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("VISION_PORT", "8000")))
        parser.add_argument("--stop", action="store_true", help="Stop the background processes.")
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo images.")
        parser.add_argument(
            "--worker-processes",
            type=int,
            default=1,
            help="Worker processes (each runs torch on its share of the cores).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["stop"]:
            for name in ("web", "worker", "beat"):
                self._stop(name)
            return
        (VAR / "run").mkdir(parents=True, exist_ok=True)
        (VAR / "log").mkdir(parents=True, exist_ok=True)
        address = f"{options['host']}:{options['port']}"
        processes = max(1, options["worker_processes"])
        self._start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vision_site",
                "worker",
                "-Q",
                f"{settings.CELERY_INFERENCE_QUEUE},default",
                "--concurrency",
                str(processes),
                "--prefetch-multiplier",
                "1",
                "--loglevel",
                "INFO",
            ],
        )
        # Beat (the periodic sweep) runs on its own, not as ``worker --beat``: a worker
        # killed with SIGKILL would leave an embedded beat running without it.
        self._start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vision_site",
                "beat",
                "--schedule",
                str(VAR / "run" / "celerybeat-schedule"),
                "--loglevel",
                "INFO",
            ],
        )
        self._start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "vision_site.wsgi:application",
                "--bind",
                address,
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
        )
        url = f"http://{address}/"
        self._wait_for(url + "healthz")
        user, password, token = demo_user_ensure()
        if not options["no_demo"]:
            paths = demo_images_write(VAR / "demo")
            self.stdout.write(f"Submitting {len(paths)} demo images and waiting for the results...")
            outcome = VisionClient(url, token).submit(paths, wait=300)
            done = sum(1 for task in outcome.results if task["status"] == "done")
            self.stdout.write(f"{done} of {len(paths)} demo images analysed.")
        self.stdout.write(
            self.style.SUCCESS(f"\nvision_site is up: {url}\n")
            + f"  sign in as   {user.username} / {password}\n"
            + f"  API token    {token}\n"
            + f"  API docs     {url}api/v1/docs/\n"
            + f"  logs         {VAR / 'log'}\n"
            + "  stop with    make down\n"
        )

    def _start(self, name: str, command: list[str]) -> None:
        if pid := _running(name):
            self.stdout.write(f"{name} already running (pid {pid}).")
            return
        with (VAR / "log" / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 # pylint: disable=consider-using-with
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=settings.BASE_DIR,
            )
        _pid_file(name).write_text(str(process.pid))
        self.stdout.write(f"{name} started (pid {process.pid}), log in var/log/{name}.log")

    def _stop(self, name: str) -> None:
        pid = _running(name)
        if pid is None:
            self.stdout.write(f"{name} is not running.")
            return
        os.killpg(pid, signal.SIGTERM)
        _pid_file(name).unlink(missing_ok=True)
        self.stdout.write(f"{name} stopped (pid {pid}).")

    def _wait_for(self, url: str) -> None:
        if not wait_until_answering(url):
            raise CommandError(f"The web server did not answer at {url}; see var/log/web.log.")
