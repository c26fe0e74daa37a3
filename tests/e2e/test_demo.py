"""``voltbill demo``: the real command seeds the demo operator once, then serves it with live simulated chargers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import closing

import httpx

from live_servers import free_port
from voltbill.adapters.store.db import Database
from voltbill.demo import catalog
from voltbill.demo.seed import live_driver
from voltbill.services import charging, invoicing

DEMO = [sys.executable, "-m", "voltbill", "demo", "--size", "small"]


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, "VOLTBILL_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}


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
    client = httpx.Client(base_url=base_url, timeout=90, headers={"Accept": "text/html"})
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"email": email, "password": catalog.DEMO_PASSWORD, "csrf_token": token.group(1), "next": ""}
    )
    assert answer.status_code == 303, answer.text
    return client


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout_s: float = 120) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"voltbill demo ended early: {lines}")
        lines.append(line.rstrip())
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} within {timeout_s} s: {lines}")


def test_demo_seeds_once_then_serves_the_dashboard_with_live_chargers(database_url: str) -> None:
    first = subprocess.run(
        [*DEMO, "--seed-only"], env=_env(database_url), capture_output=True, text=True, timeout=300, check=False
    )
    assert first.returncode == 0, first.stderr
    assert "dashboard: http://127.0.0.1:8180/" in first.stdout
    assert f"login (operator admin): {catalog.ADMIN_EMAIL} / {catalog.DEMO_PASSWORD}" in first.stdout
    assert "history generated" in first.stderr
    sessions, invoices = _counts(database_url)
    assert sessions > 20 and invoices > 10

    port = free_port()
    serving = subprocess.Popen(
        [*DEMO, "--port", str(port)],
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = _wait_for_line(serving, "press Ctrl+C")
        assert f"dashboard: http://127.0.0.1:{port}/" in printed
        base = f"http://127.0.0.1:{port}"
        with closing(_sign_in(base, catalog.ADMIN_EMAIL)) as browser:
            page = browser.get("/dashboard")
            assert page.status_code == 200
            assert catalog.OPERATOR_NAME in page.text and "<h1>Overview</h1>" in page.text
            deadline = time.monotonic() + 60
            while 'badge ok">online' not in browser.get("/dashboard/stations").text:
                assert time.monotonic() < deadline, "no simulated charger came online"
                time.sleep(1)
        assert any(f"Authorization: Bearer {catalog.DEMO_API_KEY}" in line for line in printed)
        api = httpx.get(
            f"{base}/api/v1/sessions?limit=1", headers={"Authorization": f"Bearer {catalog.DEMO_API_KEY}"}, timeout=30
        )
        assert api.status_code == 200 and api.json()["items"][0]["charge_point_id"].startswith("VWY-")
        driver = live_driver("small")
        assert f"{driver.email} / {catalog.DEMO_PASSWORD}" in first.stdout
        with closing(_sign_in(base, driver.email)) as browser:
            assert browser.get("/driver").status_code == 200
            assert browser.get("/dashboard").status_code == 403
    finally:
        serving.send_signal(signal.SIGINT)
        _, stderr = serving.communicate(timeout=60)
    assert serving.returncode == 0, stderr
    assert "history already there" in stderr and "stopped" in stderr
    now_sessions, now_invoices = _counts(database_url)
    assert now_sessions >= sessions and now_invoices >= invoices
    assert now_sessions - sessions <= len(catalog.chargers("small")) * 2  # live sessions only, no second history
