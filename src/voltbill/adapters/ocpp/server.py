"""The OCPP WebSocket endpoint ``/ocpp/{charge_point_id}`` (OCPP-J 1.6 and 2.0.1 on one route).

Security profile 1 (OCPP 2.0.1 Part 2 A00.FR.2xx; OCPP-J 1.6 security whitepaper): HTTP Basic auth with user =
charge point id. An unknown charger or a wrong password is refused in the handshake with HTTP 401 (a WebSocket
denial response; uvicorn supports the ASGI ``websocket.http.response`` extension); while the database is unreachable
the handshake is refused with HTTP 503 and ``Retry-After``, and while the remote address holds
``VOLTBILL_OCPP_MAX_CONNECTIONS_PER_IP`` connections with HTTP 429. A client that offers no
subprotocol we speak gets the handshake without ``Sec-WebSocket-Protocol`` and is closed at once (OCPP-J 1.6
§3.1.2), with close code 1002.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from voltbill.adapters.ocpp.base import ServerChargePoint
from voltbill.adapters.ocpp.connection import WebSocketConnection
from voltbill.adapters.ocpp.gateway import OcppGateway
from voltbill.adapters.ocpp.v16 import ChargePoint16
from voltbill.adapters.ocpp.v201 import ChargePoint201
from voltbill.config import Settings

log = logging.getLogger("voltbill.ocpp")

VERSIONS: dict[str, type[ServerChargePoint]] = {"ocpp2.0.1": ChargePoint201, "ocpp1.6": ChargePoint16}


def install_ocpp(app: FastAPI) -> OcppGateway:
    """Add the OCPP endpoint to ``app`` (its state must hold settings, db, bus, clock, start_checks)."""
    gateway = OcppGateway(app.state)
    app.state.ocpp = gateway
    app.add_api_websocket_route("/ocpp/{charge_point_id}", ocpp_endpoint)
    return gateway


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn ``Config`` options for the OCPP WebSockets. Compression is off by default: OCPP frames are small,
    and a per-connection zlib context costs memory and CPU per frame on both sides (measured in
    benchmarks/ocpp_load.py). Pings every ``ocpp_ping_interval_s`` close half-open connections."""
    interval = settings.ocpp_ping_interval_s or None
    return {
        "ws_per_message_deflate": settings.ocpp_websocket_compression,
        "ws_ping_interval": interval,
        "ws_ping_timeout": interval,
    }


def basic_auth(websocket: WebSocket) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic`` header, or ``None``."""
    header = websocket.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def _authenticated(gateway: OcppGateway, websocket: WebSocket, charge_point_id: str) -> bool:
    credentials = basic_auth(websocket)
    if credentials is not None and credentials[0] != charge_point_id:
        return False
    return await gateway.check_password(charge_point_id, credentials[1] if credentials else None)


async def ocpp_endpoint(websocket: WebSocket, charge_point_id: str) -> None:
    """One charger connection, from handshake to disconnect; refused with HTTP 429 while its address holds
    ``ocpp_max_connections_per_ip`` connections already."""
    gateway: OcppGateway = websocket.app.state.ocpp
    gateway.start()
    address = websocket.client.host if websocket.client else "unknown"  # the charger's, behind a trusted proxy
    if not gateway.addresses.admit(address):
        log.warning(
            "%s: refused: %s holds %d OCPP connections, the limit (VOLTBILL_OCPP_MAX_CONNECTIONS_PER_IP; behind a "
            "proxy, forward the charger's address)",
            charge_point_id,
            address,
            gateway.addresses.limit,
        )
        await websocket.send_denial_response(Response(status_code=429, headers={"Retry-After": "60"}))
        return
    try:
        await _serve(gateway, websocket, charge_point_id)
    finally:
        gateway.addresses.release(address)


async def _serve(gateway: OcppGateway, websocket: WebSocket, charge_point_id: str) -> None:
    try:
        allowed = await _authenticated(gateway, websocket, charge_point_id)
    except OperationalError as exc:  # the database is unreachable: a temporary refusal the charger retries
        log.warning("%s: refused while the database is unavailable: %s", charge_point_id, exc.orig)
        await websocket.send_denial_response(Response(status_code=503, headers={"Retry-After": "10"}))
        return
    if not allowed:
        log.info("%s: refused: unknown charger or wrong password", charge_point_id)
        await websocket.send_denial_response(
            Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="voltbill OCPP"'})
        )
        return
    offered = websocket.scope.get("subprotocols") or []
    protocol = next((p for p in offered if p in VERSIONS), None)
    if protocol is None:
        await websocket.accept()
        await websocket.close(1002, "supported subprotocols: ocpp2.0.1, ocpp1.6")
        return
    await websocket.accept(subprotocol=protocol)
    connection = WebSocketConnection(websocket, max_messages_per_s=gateway.settings.ocpp_max_messages_per_s)
    charge_point = VERSIONS[protocol](charge_point_id, connection, gateway)
    replaced = gateway.connections.add(charge_point)
    if replaced is not None:
        log.info("%s: new connection replaces the old one", charge_point_id)
        await _close_quietly(replaced)
    try:
        await charge_point.start()
    except WebSocketDisconnect:
        pass
    finally:
        gateway.connections.remove(charge_point)


async def _close_quietly(charge_point: ServerChargePoint) -> None:
    try:
        await charge_point.connection.close(1000, "replaced by a new connection")
    except Exception:  # already gone
        log.debug("%s: old connection was already closed", charge_point.id)
