"""Two operators on one server: each API key sees and changes only its own operator's records."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import SystemClock
from voltbill.services.access import create_api_key, ensure_operator


@pytest.fixture
async def rival(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An admin API key of a second operator, ``rival``."""
    with api_app.state.db.uow() as uow:
        ensure_operator(uow, "rival", clock=SystemClock())
        _, key = create_api_key(uow, "rival", clock=SystemClock(), role="admin")
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client


async def test_another_operator_sees_none_of_the_records_and_cannot_take_their_ids(
    api: httpx.AsyncClient, rival: httpx.AsyncClient, bodies: Any
) -> None:
    await api.put("/api/v1/tariffs/AC", json=bodies.tariff())
    await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point("AC"))
    await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    await api.put("/api/v1/drivers/D-1/tokens/TOK-1", json={"type": "RFID"})

    for path in (
        "/api/v1/tariffs/AC",
        "/api/v1/charge-points/CP-1",
        "/api/v1/drivers/D-1",
        "/api/v1/drivers/D-1/tokens/TOK-1",
    ):
        assert (await rival.get(path)).status_code == 404, path
    for path in ("/api/v1/tariffs", "/api/v1/charge-points", "/api/v1/drivers"):
        assert (await rival.get(path)).json() == {"items": [], "next_cursor": None}, path

    taken = [
        await rival.put("/api/v1/tariffs/AC", json=bodies.tariff("0.01")),
        await rival.put("/api/v1/charge-points/CP-1", json=bodies.charge_point()),
        await rival.put("/api/v1/drivers/D-1", json=bodies.driver(name="Eve")),
    ]
    assert [(r.status_code, r.json()["code"]) for r in taken] == [(409, "id_taken")] * 3
    await rival.put("/api/v1/drivers/D-2", json=bodies.driver())
    stolen = await rival.put("/api/v1/drivers/D-2/tokens/TOK-1", json={"type": "RFID"})
    assert (stolen.status_code, stolen.json()["code"]) == (409, "id_taken")
    assert (await rival.put("/api/v1/charge-points/CP-9", json=bodies.charge_point("AC"))).json()[
        "code"
    ] == "tariff_not_found"

    assert (await api.get("/api/v1/drivers/D-1")).json()["name"] == "Ana Lima"
    assert (await api.get("/api/v1/tariffs/AC")).json()["elements"][0]["price_components"][0]["price"] == "0.25"


async def test_a_staff_key_reads_but_cannot_write(api_app: FastAPI, api: httpx.AsyncClient, bodies: Any) -> None:
    await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    with api_app.state.db.uow() as uow:
        _, key = create_api_key(uow, "default", clock=SystemClock(), role="staff")
    staff = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/api/v1/drivers/D-1", headers=staff)).status_code == 200
    refused = await api.put("/api/v1/drivers/D-1", json=bodies.driver(name="Eve"), headers=staff)
    assert (refused.status_code, refused.json()["code"]) == (403, "read_only_key")
    assert (await api.get("/api/v1/drivers/D-1")).json()["name"] == "Ana Lima"


async def test_the_operators_cli_creates_an_operator_and_a_staff_key_that_can_only_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "VOLTBILL_DATABASE_URL": sqlite_url}

    def voltbill(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "voltbill", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert voltbill("operators", "create", "rival", "--name", "Rival charging").returncode == 0
    made = voltbill("operators", "api-key", "rival", "--role", "staff")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("vb_") and "created staff key" in made.stderr
    app = create_app(Settings(database_url=sqlite_url, _env_file=None))  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        assert (await client.get("/api/v1/drivers")).json() == {"items": [], "next_cursor": None}
        body = {"name": "Eve", "email": "eve@rival.test", "payment_method": "card"}
        assert (await client.put("/api/v1/drivers/D-9", json=body)).status_code == 403
    for value in vars(app.state)["_state"].values():
        if isinstance(value, threading.Thread) and callable(getattr(value, "stop", None)):
            value.stop()
    app.state.db.dispose()
