"""A real voltbill server in-process (uvicorn on a free port, background thread) and a raw OCPP-J client.

Used by the fixtures in ``tests/e2e/conftest.py``; importable from any test (``from live_servers import ...``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from voltbill.adapters.ocpp.server import websocket_options
from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import Clock

API_KEY = "vb_e2e_admin_key_0123456789abcdef"
PG_ADMIN_DSN = os.environ.get("VOLTBILL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


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

    def events_consumed(self, timeout: float = 10) -> None:
        """Wait until what the OCPP use cases published so far is consumed (settled, invoiced): the gateway's
        ``DeferredBus`` consumes in order, so a marker published now is consumed after all of it."""
        name, consumed = f"test.marker.{secrets.token_hex(4)}", threading.Event()
        self.app.state.bus.subscribe(name, lambda _: consumed.set())
        self.app.state.ocpp.events.publish(name, {})
        assert consumed.wait(timeout), "the gateway's events were not consumed in time"


@contextmanager
def running_server(database_url: str, *, clock: Clock | None = None, **settings: Any) -> Iterator[LiveServer]:
    """``create_app`` for ``database_url`` (operator key ``API_KEY``, optional ``clock``) served by uvicorn until the
    block ends."""
    config = Settings(database_url=database_url, api_key=API_KEY, _env_file=None, **settings)  # type: ignore[call-arg]
    app = create_app(config, clock=clock)
    port = free_port()
    options = websocket_options(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
    try:
        yield LiveServer(base, f"ws://127.0.0.1:{port}/ocpp", app, api)
    finally:
        api.close()
        server.should_exit = True
        thread.join(15)
        app.state.db.dispose()


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    import psycopg

    name = f"voltbill_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class OcppClient:
    """Raw OCPP-J frames over one WebSocket; the test picks message ids.

    CALLs the server sends meanwhile are kept in ``received_calls`` and answered with ``auto_answer[action]``.
    """

    ws: ClientConnection
    received_calls: list[list[Any]] = field(default_factory=list)
    auto_answer: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def send_raw(self, text: str | bytes) -> list[Any]:
        """Send ``text`` and return the next CALLRESULT/CALLERROR frame."""
        await self.ws.send(text)
        return await self.next_answer()

    async def next_answer(self, timeout: float = 10) -> list[Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame[0] != 2:
                return list(frame)
            self.received_calls.append(frame)
            if frame[2] in self.auto_answer:
                await self.ws.send(json.dumps([3, frame[1], self.auto_answer[frame[2]]]))

    async def serve_calls(self, timeout: float = 10) -> None:
        """Answer the server's CALLs (``auto_answer``) until it has sent one, within ``timeout``."""
        seen = len(self.received_calls)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received_calls) == seen:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - loop.time()))
            if frame[0] == 2:
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
    """An OCPP WebSocket to ``server`` as charger ``cp_id`` (Basic auth when ``password`` is given)."""
    headers = basic_auth(cp_id, password) if password is not None else {}
    async with connect(
        f"{server.ws_url}/{cp_id}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        yield OcppClient(ws)
