"""``voltbill demo --seed-only``: the real command seeds the demo operator once, and a server shows it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing

import httpx

from conftest import LiveServer
from voltbill.adapters.store.db import Database
from voltbill.demo import catalog
from voltbill.services import charging, invoicing


def _demo(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOLTBILL_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "voltbill", "demo", "--seed-only", "--size", "small"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _counts(database_url: str) -> tuple[int, int]:
    db = Database(database_url)
    try:
        with db.uow() as uow:
            sessions, _ = charging.list_sessions(uow, operator_id=catalog.OPERATOR_ID, limit=500)
            invoices, _ = invoicing.list_invoices(uow, catalog.OPERATOR_ID, limit=500)
        return len(sessions), len(invoices)
    finally:
        db.dispose()


def _sign_in(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30, headers={"Accept": "text/html"})
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"email": email, "password": catalog.DEMO_PASSWORD, "csrf_token": token.group(1), "next": ""}
    )
    assert answer.status_code == 303, answer.text
    return client


def test_demo_seed_only_seeds_history_once_and_the_server_shows_it(
    database_url: str, start_live_server: Callable[..., LiveServer]
) -> None:
    first = _demo(database_url)
    assert first.returncode == 0, first.stderr
    assert "dashboard: http://127.0.0.1:8180/" in first.stdout
    assert f"login (operator admin): {catalog.ADMIN_EMAIL} / {catalog.DEMO_PASSWORD}" in first.stdout
    assert "history generated" in first.stderr
    sessions, invoices = _counts(database_url)
    assert sessions > 20 and invoices > 10

    again = _demo(database_url)
    assert again.returncode == 0, again.stderr
    assert "history already there" in again.stderr
    assert _counts(database_url) == (sessions, invoices)

    server = start_live_server()
    with closing(_sign_in(server.base_url, catalog.ADMIN_EMAIL)) as browser:
        page = browser.get("/dashboard")
        assert page.status_code == 200
        assert catalog.OPERATOR_NAME in page.text and "<h1>Overview</h1>" in page.text
        stations = browser.get("/dashboard/stations")
        assert all(c.id in stations.text for c in catalog.chargers("small"))
    driver = catalog.drivers("small")[0]
    with closing(_sign_in(server.base_url, driver.email)) as browser:
        assert browser.get("/driver").status_code == 200
        assert browser.get("/dashboard").status_code == 403
