"""``voltbill migrate`` and ``voltbill serve`` as a user runs them: a real uvicorn server over TCP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from live_servers import free_port

KEY = "vb_smoke_test_key_0123456789abcdef"


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, "VOLTBILL_DATABASE_URL": database_url, "VOLTBILL_API_KEY": KEY}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voltbill", "serve", "--port", str(port)],
        env=_env(database_url),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_voltbill_migrate_brings_an_empty_database_up_to_date(database_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voltbill", "migrate"],
        env=_env(database_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stderr


def test_a_served_api_registers_a_driver_with_the_environment_api_key(server: str) -> None:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}) as http:
        assert http.get("/healthz").json() == {"status": "ok", "database": "ok"}
        assert http.get("/openapi.json").json()["info"]["title"] == "voltbill"
        assert "swagger" in http.get("/docs").text.lower()
        put = http.put(
            "/api/v1/drivers/D-1", json={"name": "Ana", "email": "ana@example.com", "payment_method": "card"}
        )
        assert put.status_code == 201
        assert http.get("/api/v1/drivers/D-1").json()["payment_method"] == "card"
        assert httpx.get(f"{server}/api/v1/drivers").status_code == 401
