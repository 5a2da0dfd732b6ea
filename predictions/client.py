"""A small standalone client for the vision_site API (needs only ``requests``).

Uploads images (files or whole folders) over the API with a progress bar, waits for
their results and writes them as JSON lines in SPEC.md's format, or as CSV::

    python predictions/client.py --url http://127.0.0.1:8000 --token KEY photos/ -o out.jsonl

The file has no Django imports so it can be copied next to any script.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
SPEC_FIELDS = ("file", "width", "height", "scene", "objects", "models")
FINISHED = {"done", "failed"}


def wait_until_answering(url: str, *, timeout: float = 60.0) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


class ClientError(RuntimeError):
    """The server refused a request; the message is the server's own."""


@dataclass
class Outcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)


def image_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every image file under each folder, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Progress:
    """A progress bar on stderr without dependencies."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.done, self.stream = label, total, 0, stream

    def advance(self, count: int = 1) -> None:
        self.done += count
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        self.stream.write(
            f"\r{self.label:<10} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
        )
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


class VisionClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}/api/v1/{path.lstrip('/')}"
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        body = response.json() if response.content else {}
        if response.status_code >= 400 and not body.get("tasks"):
            message = body.get("error", {}).get("message") if isinstance(body, dict) else None
            raise ClientError(message or f"{method} {url} answered {response.status_code}")
        return body

    def upload(self, paths: list[Path]) -> dict[str, Any]:
        handles = [path.open("rb") for path in paths]
        try:
            files = [
                ("image", (str(path), handle, "application/octet-stream"))
                for path, handle in zip(paths, handles, strict=True)
            ]
            return dict(self._request("POST", "tasks/", files=files))
        finally:
            for handle in handles:
                handle.close()

    def task(self, task_id: int) -> dict[str, Any]:
        return dict(self._request("GET", f"tasks/{task_id}/"))

    def submit(
        self, paths: list[Path], *, per_request: int = 16, poll: float = 0.5, wait: float = 600.0
    ) -> Outcome:
        """Upload ``paths``, wait until every task has finished, return their results."""
        outcome = Outcome()
        pending: dict[int, str] = {}
        uploading = Progress("uploading", len(paths))
        for chunk in _chunks(paths, per_request):
            try:
                answer = self.upload(chunk)
            except ClientError as error:
                answer = {
                    "tasks": [],
                    "errors": [{"file": str(p), "error": str(error)} for p in chunk],
                }
            outcome.rejected += answer.get("errors", [])
            for task in answer.get("tasks", []):
                pending[int(task["id"])] = task["url"]
            uploading.advance(len(chunk))
        analysing = Progress("analysing", len(pending))
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            for task_id in list(pending):
                task = self.task(task_id)
                if task["status"] in FINISHED:
                    del pending[task_id]
                    outcome.results.append(task)
                    analysing.advance()
            if pending:
                time.sleep(poll)
        for task_id in pending:
            outcome.rejected.append(
                {"file": str(task_id), "error": "still running when the wait ended"}
            )
        return outcome


def spec_record(task: dict[str, Any]) -> dict[str, Any]:
    """SPEC.md's JSON for a finished task; failed ones carry their error instead."""
    if task["status"] != "done":
        return {"file": task.get("original_name"), "error": task.get("error") or task["status"]}
    return {key: task[key] for key in SPEC_FIELDS}


def write_jsonl(results: Iterable[dict[str, Any]], stream: TextIO) -> None:
    for task in results:
        stream.write(json.dumps(spec_record(task)) + "\n")


def write_csv(results: Iterable[dict[str, Any]], stream: TextIO) -> None:
    writer = csv.writer(stream)
    writer.writerow(["file", "width", "height", "scene", "scene_score", "objects", "error"])
    for task in results:
        record = spec_record(task)
        if "error" in record:
            writer.writerow([record["file"], "", "", "", "", "", record["error"]])
            continue
        objects = ";".join(
            f"{o['label']}:{o['score']:.3f}:{','.join(f'{v:.1f}' for v in o['box'])}"
            for o in record["objects"]
        )
        writer.writerow(
            [
                record["file"],
                record["width"],
                record["height"],
                record["scene"]["label"],
                record["scene"]["score"],
                objects,
                "",
            ]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="Image files or folders.")
    parser.add_argument("--url", default=os.environ.get("VISION_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--token", default=os.environ.get("VISION_TOKEN"), help="API token (or VISION_TOKEN)."
    )
    parser.add_argument("-o", "--output", help="Write results here (default: standard output).")
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    parser.add_argument("--wait", type=float, default=600.0, help="Seconds to wait for results.")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("an API token is required: --token or VISION_TOKEN")
    outcome = VisionClient(args.url, args.token).submit(image_paths(args.paths), wait=args.wait)
    writer = write_csv if args.format == "csv" else write_jsonl
    if args.output:
        with Path(args.output).open("w", encoding="utf-8", newline="") as stream:
            writer(outcome.results, stream)
    else:
        writer(outcome.results, sys.stdout)
    for rejected in outcome.rejected:
        sys.stderr.write(f"error: {rejected['file']}: {rejected['error']}\n")
    return 1 if outcome.rejected or any(t["status"] != "done" for t in outcome.results) else 0


if __name__ == "__main__":
    sys.exit(main())
