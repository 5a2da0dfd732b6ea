"""Playwright driving Debian's Chromium (headless) against the live test server.

Chromium comes from the system (``apt-get install chromium``): ``playwright install``
would download a browser, which these machines cannot. The tests never skip: a missing
browser is a failure, so CI cannot pass them silently.
"""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from ml_models.models import ModelVersion
from tests.conftest import WorkerProcess

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run
# in a thread with a running loop unless told that this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "correct horse battery staple"
# Where Django's test set-up keeps each database's serialized seed rows.
SERIALIZED = "_test_serialized_contents"


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"No Chromium at {CHROMIUM}: install Debian's `chromium` package "
            "(or set CHROMIUM_PATH)."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(name="context")
def context_fixture(
    browser: Browser, live_server: object, seeded: None
) -> Iterator[BrowserContext]:
    created = browser.new_context(
        base_url=str(live_server), viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    created.set_default_timeout(15_000)
    yield created
    created.close()


@pytest.fixture(name="page")
def page_fixture(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real form."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save what the user sees, to look at after the run (var/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture(name="seed_snapshot", scope="session", autouse=True)
def seed_snapshot_fixture(django_db_setup: None) -> dict[str, str]:
    """Each alias's serialized seed rows, read before Playwright runs its event loop.

    Django keeps them on the connection objects, which are per context: while
    Playwright's sync API runs, this thread gets fresh connection objects without them.
    """
    snapshot: dict[str, str] = {}
    for alias in connections:
        contents = vars(connections[alias]).get(SERIALIZED)
        if contents is not None:
            snapshot[alias] = contents
    return snapshot


@pytest.fixture(name="seeded")
def seeded_fixture(transactional_db: None, seed_snapshot: dict[str, str]) -> None:
    """Make serialized_rollback work under Playwright.

    Its restore (at set-up) and its flush without post_migrate (at tear-down) look for
    the seed rows on the connection object; under Playwright that is a fresh one, so the
    restore silently did nothing and the flush would recreate content types that the
    next test's restore then collides with. Hand the rows to these connection objects,
    and restore what the skipped restore left out.
    """
    for alias, contents in seed_snapshot.items():
        vars(connections[alias]).setdefault(SERIALIZED, contents)
    if not ModelVersion.objects.filter(is_active=True).exists():
        for alias, contents in seed_snapshot.items():
            connections[alias].creation.deserialize_db_from_string(contents)


@pytest.fixture(name="worker")
def worker_fixture(seeded: None, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real worker (``tests.conftest.WorkerProcess``) started once this test's data is
    in place.

    The shared module-scoped ``celery_worker`` starts before the test's database is
    restored; after an earlier transactional test has flushed the database, that worker
    never sees the shipped model versions ("No active model version"), so each browser
    test that needs one starts its own.
    """
    from vision_site.celery import app

    app.control.purge()
    process = WorkerProcess(tmp_path / "worker.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
