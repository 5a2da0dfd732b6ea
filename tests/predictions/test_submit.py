"""``manage.py submit`` and the standalone client against a live server and worker."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from accounts.services import api_token_create
from ml_models.training.synthetic import SceneGenerator
from predictions.client import main as client_main
from tests.conftest import WorkerProcess
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SPEC_KEYS = {"file", "width", "height", "scene", "objects", "models"}


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    generator = SceneGenerator(seed=21)
    for index in range(count):
        target = folder / ("nested" if index % 2 else "") / f"img-{index}.png"
        generator.sample(index).image.save(target)
    (folder / "notes.txt").write_text("not an image, and not picked up by suffix")
    return folder


def _token() -> str:
    user: User = UserFactory.create()
    _, key = api_token_create(user=user, name="submit test")
    return key


def test_submit_writes_spec_json_lines_for_a_folder(
    celery_worker: WorkerProcess, live_server: Any, tmp_path: Path
) -> None:
    output = tmp_path / "results.jsonl"

    call_command(
        "submit",
        str(_folder(tmp_path, 3)),
        "--url",
        live_server.url,
        "--token",
        _token(),
        "-o",
        str(output),
    )

    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        assert set(record) == SPEC_KEYS
        assert record["file"].endswith(".png")
        assert record["scene"]["label"] == record["scene"]["top"][0]["label"]


def test_client_writes_csv_and_reports_rejected_files(
    celery_worker: WorkerProcess, live_server: Any, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, 2)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    output = tmp_path / "results.csv"

    status = client_main(
        [
            str(folder),
            "--url",
            live_server.url,
            "--token",
            _token(),
            "--format",
            "csv",
            "-o",
            str(output),
        ]
    )

    assert status == 1  # one file was rejected
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == 2
    assert all(row["scene"] for row in rows)


def test_submit_without_a_token_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--token"):
        call_command("submit", str(_folder(tmp_path, 1)), "--url", "http://127.0.0.1:9")
