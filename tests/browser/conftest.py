"""Browser tests: one seeded server (small demo operator, SQLite) and one headless Chromium per test module.

Module scope, not session scope: Playwright's sync API keeps an event loop running in the main thread while the
browser is open, and tests of other areas that run after these need the main thread free for their own loops.

Chromium is Debian's (``/usr/bin/chromium``; ``./scripts/test`` installs it), driven by Playwright. Every page
visited through ``browsing`` collects console errors and uncaught exceptions, and screenshots land in
``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from browsing import API_KEY, CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Browsing, SeededServer
from playwright.sync_api import Browser, sync_playwright

from live_servers import free_port
from voltbill.adapters.store.db import Database
from voltbill.api.app import create_app
from voltbill.commands.demo import seed
from voltbill.config import Settings
from voltbill.demo import catalog
from voltbill.domain.clock import SystemClock
from voltbill.services import access


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededServer]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required in CI (./scripts/test installs it)")
        pytest.skip(f"{CHROMIUM} is not installed")
    db_file = tmp_path_factory.mktemp("browser") / "voltbill.db"
    settings = Settings(database_url=f"sqlite:///{db_file}", _env_file=None)  # type: ignore[call-arg]
    seed(settings, "small", quiet=True)
    db = Database(settings.database_url)
    with db.uow() as uow:  # an API key of the demo operator, to compare pages with the REST API
        access.ensure_api_key(uow, catalog.OPERATOR_ID, API_KEY, clock=SystemClock())
    db.dispose()
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the seeded server did not start")
        time.sleep(0.05)
    try:
        yield SeededServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browsing(browser: Browser, seeded_server: SeededServer) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Browsing(context.new_page(), seeded_server.base_url)
    try:
        yield tab
    finally:
        context.close()
