"""End-to-end fixtures: a real uvicorn server in-process on a free port, and a raw OCPP-J WebSocket client.

``live_server`` (default settings) and ``start_live_server(**settings)`` start ``create_app`` for the test's
``database_url`` (SQLite and PostgreSQL) with an operator API key; ``server.api`` is an httpx client with that key.
``ocpp_client(server, cp_id, password, protocol)`` opens a WebSocket with Basic auth and sends frames whose message
ids the test chooses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from voltbill.api.app import create_app
from voltbill.config import Settings

API_KEY = "vb_e2e_admin_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running server: ``base_url`` (http), ``ws_url`` (``ws://.../ocpp``), the ``app``, an authenticated client."""

    base_url: str
    ws_url: str
    app: FastAPI
    api: httpx.Client
    api_key: str = API_KEY

    def register_charger(
        self, cp_id: str, password: str | None, *, tariff_id: str | None = None, time_zone: str = "Europe/Amsterdam"
    ) -> None:
        body: dict[str, Any] = {
            "password": password,
            "location": {
                "name": "Harbour car park",
                "address": "Kade 1",
                "city": "Amsterdam",
                "postal_code": "1011AB",
                "country": "NLD",
                "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
                "time_zone": time_zone,
            },
        }
        if tariff_id:
            body["tariff_id"] = tariff_id
        self.api.put(f"/api/v1/charge-points/{cp_id}", json=body).raise_for_status()

    def register_driver(self, driver_id: str, uid: str, *, payment_method: str = "invoice") -> None:
        driver = {"name": "Ada Driver", "email": f"{driver_id}@example.org", "payment_method": payment_method}
        self.api.put(f"/api/v1/drivers/{driver_id}", json=driver).raise_for_status()
        self.api.put(f"/api/v1/drivers/{driver_id}/tokens/{uid}", json={"type": "RFID"}).raise_for_status()

    def put_tariff(self, tariff_id: str, body: dict[str, Any]) -> None:
        self.api.put(f"/api/v1/tariffs/{tariff_id}", json=body).raise_for_status()


@pytest.fixture
def start_live_server(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with extra ``Settings`` fields; each is stopped at the end of the test."""
    running: list[tuple[uvicorn.Server, threading.Thread, LiveServer]] = []

    def start(**overrides: Any) -> LiveServer:
        settings = Settings(database_url=database_url, api_key=API_KEY, _env_file=None, **overrides)  # type: ignore[call-arg]
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        live = LiveServer(base, f"ws://127.0.0.1:{port}/ocpp", app, api)
        running.append((server, thread, live))
        return live

    yield start
    for server, thread, live in running:
        live.api.close()
        server.should_exit = True
        thread.join(15)
        live.app.state.db.dispose()


@pytest.fixture
def live_server(start_live_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings."""
    return start_live_server()


def random_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class OcppClient:
    """Raw OCPP-J frames over one WebSocket; the test picks message ids."""

    ws: ClientConnection
    received_calls: list[list[Any]] = field(default_factory=list)
    auto_answer: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def send_raw(self, text: str) -> list[Any]:
        """Send ``text`` and return the next CALLRESULT/CALLERROR frame."""
        await self.ws.send(text)
        return await self.next_answer()

    async def next_answer(self, timeout: float = 10) -> list[Any]:
        """The next CALLRESULT/CALLERROR; CALLs from the server are recorded (and answered if configured)."""
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame[0] != 2:
                return list(frame)
            self.received_calls.append(frame)
            if frame[2] in self.auto_answer:
                await self.ws.send(json.dumps([3, frame[1], self.auto_answer[frame[2]]]))

    async def call(self, action: str, payload: dict[str, Any], message_id: str | None = None) -> list[Any]:
        message_id = message_id or secrets.token_hex(8)
        answer = await self.send_raw(json.dumps([2, message_id, action, payload]))
        assert answer[1] == message_id, answer
        return answer

    async def ok(self, action: str, payload: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
        """``call`` that must succeed; returns the CALLRESULT payload."""
        answer = await self.call(action, payload, message_id)
        assert answer[0] == 3, answer
        return dict(answer[2])


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@asynccontextmanager
async def ocpp_connection(
    server: LiveServer, cp_id: str, password: str | None, protocol: str = "ocpp1.6"
) -> AsyncIterator[OcppClient]:
    headers = basic_auth(cp_id, password) if password is not None else {}
    async with connect(
        f"{server.ws_url}/{cp_id}",
        subprotocols=[protocol],
        additional_headers=headers,
        open_timeout=10,  # type: ignore[list-item]
    ) as ws:
        yield OcppClient(ws)


@pytest.fixture
def ocpp_client() -> Callable[..., Any]:
    """``async with ocpp_client(server, cp_id, password, "ocpp1.6") as client: ...``"""
    return ocpp_connection
