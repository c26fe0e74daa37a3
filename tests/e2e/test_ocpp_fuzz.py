"""Hostile input on the OCPP endpoint: random frames, schema-mutated CALLs, huge frames, floods and slow clients.

The server must answer every readable CALL with a CALLRESULT or the CALLERROR the spec names (OCPP-J 1.6 §4.2.3,
OCPP 2.0.1 Part 4 §4.2.3), keep the connection up, keep serving other chargers, and never store a broken session.
Hypothesis runs with a fixed seed and a bounded number of examples.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from conftest import LiveServer, basic_auth, random_id

PASSWORD = "fuzz-password-0123456789"
CODES = {
    "ocpp1.6": {
        "FormationViolation", "ProtocolError", "TypeConstraintViolation", "PropertyConstraintViolation",
        "OccurenceConstraintViolation", "NotImplemented", "NotSupported", "InternalError", "SecurityError",
        "GenericError",
    },
    "ocpp2.0.1": {
        "FormatViolation", "RpcFrameworkError", "MessageTypeNotSupported", "ProtocolError",
        "TypeConstraintViolation", "PropertyConstraintViolation", "OccurrenceConstraintViolation",
        "OccurenceConstraintViolation", "NotImplemented", "NotSupported", "InternalError", "SecurityError",
        "GenericError",
    },
}  # fmt: skip
ATTACKS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_attacks() -> Iterator[None]:
    """Print how many attacks of each kind the module tried (visible with ``pytest -s``)."""
    yield
    for kind, count in sorted(ATTACKS.items()):
        print(f"attack {kind}: {count}")


def _now(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _sampled16() -> list[dict[str, Any]]:
    return [
        {
            "timestamp": _now(),
            "sampledValue": [
                {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
    ]


def valid_calls(protocol: str, tag: str) -> dict[str, dict[str, Any]]:
    """One schema-valid payload per action a charger sends (the seeds the mutations start from)."""
    if protocol == "ocpp1.6":
        return {
            "BootNotification": {"chargePointVendor": "Fuzz", "chargePointModel": "F1"},
            "Heartbeat": {},
            "Authorize": {"idTag": tag},
            "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            "StartTransaction": {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": _now(-600)},
            "MeterValues": {"connectorId": 1, "transactionId": 1, "meterValue": _sampled16()},
            "StopTransaction": {"meterStop": 2000, "timestamp": _now(), "transactionId": 1, "reason": "Local"},
            "DataTransfer": {"vendorId": "fuzz", "data": "x"},
        }
    tx = {"transactionId": "fuzz-tx-1", "chargingState": "Charging"}
    sampled = [
        {
            "timestamp": _now(),
            "sampledValue": [{"value": 1234.5, "measurand": "Energy.Active.Import.Register"}],
        }
    ]
    return {
        "BootNotification": {"chargingStation": {"model": "F1", "vendorName": "Fuzz"}, "reason": "PowerUp"},
        "Heartbeat": {},
        "Authorize": {"idToken": {"idToken": tag, "type": "ISO14443"}},
        "StatusNotification": {"timestamp": _now(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        "TransactionEvent": {
            "eventType": "Started",
            "timestamp": _now(-600),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": tx,
            "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": tag, "type": "ISO14443"},
            "meterValue": sampled,
        },
        "MeterValues": {"evseId": 1, "meterValue": sampled},
        "DataTransfer": {"vendorId": "fuzz", "data": "x"},
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
garbage_frames = st.one_of(
    st.text(max_size=200).map(lambda t: ("text", t)),
    st.binary(max_size=200).map(lambda b: ("binary", b.decode("latin-1"))),
    json_values.map(lambda v: ("json", json.dumps(v))),
    st.tuples(st.sampled_from([2, 3, 4, 5, -1, "2"]), json_values, json_values, json_values).map(
        lambda f: ("frame-shaped", json.dumps(list(f)))
    ),
    st.tuples(st.text(max_size=40), json_values).map(
        lambda f: ("unknown-action", json.dumps([2, str(uuid.uuid4()), f[0], f[1] if isinstance(f[1], dict) else {}]))
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


def _mutate(payload: dict[str, Any], path: tuple[Any, ...], op: str, replacement: Any) -> dict[str, Any]:
    result = copy.deepcopy(payload)
    if not path:
        return {"unexpected": replacement} if op == "add" else result
    parent: Any = result
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = replacement
    elif op == "huge":
        parent[key] = "9" * 5000
    elif op == "negative":
        parent[key] = -(2**63) if not isinstance(parent[key], str) else "-1e999"
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "add" and isinstance(parent[key], dict):
        parent[key]["unexpected"] = replacement
    return result


@st.composite
def mutated_calls(draw: st.DrawFn, protocol: str, tag: str) -> tuple[str, str, str]:
    calls = valid_calls(protocol, tag)
    action = draw(st.sampled_from(sorted(calls)))
    payload = calls[action]
    path = draw(st.sampled_from(list(_paths(payload))))
    op = draw(st.sampled_from(["delete", "replace", "huge", "negative", "wrap", "add"]))
    mutated = _mutate(payload, path, op, draw(json_values))
    message_id = str(uuid.uuid4())
    return f"mutated-{op}", message_id, json.dumps([2, message_id, action, mutated])


class Probe:
    """One charger connection on its own event loop, driven synchronously from hypothesis examples."""

    def __init__(self, server: LiveServer, cp_id: str, protocol: str) -> None:
        self.server, self.cp_id, self.protocol = server, cp_id, protocol
        self.loop = asyncio.new_event_loop()
        self.ws: ClientConnection = self.run(self._connect())
        boot = valid_calls(protocol, "x")["BootNotification"]
        assert self.run(self.exchange(json.dumps([2, "boot", "BootNotification", boot])))[-1][0] == 3

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _connect(self) -> ClientConnection:
        return await connect(
            f"{self.server.ws_url}/{self.cp_id}",
            subprotocols=[self.protocol],  # type: ignore[list-item]
            additional_headers=basic_auth(self.cp_id, PASSWORD),
            max_size=2**24,
        )

    async def exchange(self, frame: str) -> list[list[Any]]:
        """Send ``frame`` then a Heartbeat; return every answer up to and including the Heartbeat's."""
        probe_id = str(uuid.uuid4())
        await self.ws.send(frame)
        await self.ws.send(json.dumps([2, probe_id, "Heartbeat", {}]))
        answers = []
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
            if answer[0] == 2:  # a CALL from the server (e.g. CostUpdated): not what we wait for
                continue
            answers.append(answer)
            if answer[1] == probe_id:
                return answers

    def close(self) -> None:
        self.run(self.ws.close())
        self.loop.close()


def _check_answers(answers: list[list[Any]], protocol: str, message_id: str | None) -> None:
    *before, heartbeat = answers
    assert heartbeat[0] == 3, f"the connection stopped serving: {heartbeat}"
    for answer in before:
        assert answer[0] in (3, 4), answer
        if answer[0] == 4:
            assert answer[2] in CODES[protocol], answer
    if message_id is not None:
        assert [a[1] for a in before] == [message_id], f"no single answer to {message_id}: {before}"


def _assert_no_broken_session(server: LiveServer, cp_id: str) -> None:
    sessions = server.api.get("/api/v1/sessions", params={"charge_point_id": cp_id, "limit": 500}).json()["items"]
    for s in sessions:
        assert s["status"] in ("active", "completed"), s
        assert s["start_date_time"], s
        if s["status"] == "completed":
            assert s["end_date_time"] >= s["start_date_time"], s
            assert s["cdr_id"], s
            cdr = server.api.get(f"/api/v1/cdrs/{s['cdr_id']}")
            assert cdr.status_code == 200, cdr.text
            assert Decimal(str(cdr.json()["total_energy"])) >= 0
    with server.app.state.db.uow() as uow:
        values = uow.session.execute(
            text("SELECT value FROM meter_values WHERE charge_point_id = :cp"), {"cp": cp_id}
        ).scalars()
        for value in values:
            assert Decimal(str(value)).is_finite(), value


@pytest.fixture
def fuzz_server(start_live_server: Callable[..., LiveServer]) -> LiveServer:
    return start_live_server(ocpp_max_messages_per_s=10_000)


def _charger(server: LiveServer, tag: str) -> str:
    cp_id = random_id("FZ")
    server.put_tariff(
        "FUZZ",
        {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "step_size": 1}]}]},
    )
    server.register_charger(cp_id, PASSWORD, tariff_id="FUZZ")
    server.register_driver(random_id("drv"), tag)
    return cp_id


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_random_and_mutated_frames_get_the_named_callerror_and_the_connection_stays_up(
    fuzz_server: LiveServer, protocol: str
) -> None:
    tag = random_id("TG")[:12]
    cp_id = _charger(fuzz_server, tag)
    probe = Probe(fuzz_server, cp_id, protocol)
    fuzz_settings = settings(
        max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False
    )
    try:

        @seed(20261128)
        @fuzz_settings
        @given(garbage_frames)
        def garbage(item: tuple[str, str]) -> None:
            kind, frame = item
            ATTACKS[f"{protocol} garbage-{kind}"] += 1
            answers = probe.run(probe.exchange(frame))
            _check_answers(answers, protocol, None)

        @seed(20261128)
        @fuzz_settings
        @given(mutated_calls(protocol, tag))
        def mutated(item: tuple[str, str, str]) -> None:
            kind, message_id, frame = item
            ATTACKS[f"{protocol} {kind}"] += 1
            answers = probe.run(probe.exchange(frame))
            _check_answers(answers, protocol, message_id)

        garbage()
        mutated()
    finally:
        probe.close()
    _assert_no_broken_session(fuzz_server, cp_id)


async def _open(server: LiveServer, cp_id: str, protocol: str = "ocpp1.6", **socket: Any) -> ClientConnection:
    """A booted connection of ``cp_id``; ``socket`` goes to ``create_connection`` (e.g. ``local_addr``)."""
    ws = await connect(
        f"{server.ws_url}/{cp_id}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=basic_auth(cp_id, PASSWORD),
        **socket,
        max_size=2**24,
    )
    await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    assert json.loads(await ws.recv())[0] == 3
    return ws


async def _heartbeat_ms(ws: ClientConnection) -> float:
    started = time.perf_counter()
    message_id = str(uuid.uuid4())
    await ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if answer[1] == message_id:
            assert answer[0] == 3
            return (time.perf_counter() - started) * 1000


async def test_huge_frames_floods_and_slow_clients_do_not_disturb_other_chargers(live_server: LiveServer) -> None:
    tag = random_id("TG")[:12]
    bystander_id, huge_id, flood_id, mute_id = (_charger(live_server, tag) for _ in range(4))
    bystander = await _open(live_server, bystander_id)

    # a 1 MiB frame: answered with a CALLERROR or the connection closed; never a crash
    huge = await _open(live_server, huge_id)
    ATTACKS["huge frame 1 MiB"] += 1
    await huge.send(json.dumps([2, "huge", "DataTransfer", {"vendorId": "x", "data": "A" * 2**20}]))
    try:
        answer = json.loads(await asyncio.wait_for(huge.recv(), 10))
        assert answer[0] == 4 and answer[2] in CODES["ocpp1.6"], answer
    except Exception as exc:  # closed by the server: allowed for an oversized frame
        assert "close" in type(exc).__name__.lower() or "Closed" in type(exc).__name__, exc
    assert await _heartbeat_ms(bystander) < 2000

    # a flood: 100 pipelined CALLs (5 s worth at the default 20/s limit); all answered in order, the bystander
    # stays fast
    flood = await _open(live_server, flood_id)
    ATTACKS["flood 100 pipelined CALLs"] += 1
    for i in range(100):
        await flood.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
    during = [await _heartbeat_ms(bystander) for _ in range(5)]
    ids = []
    while len(ids) < 100:
        ids.append(json.loads(await asyncio.wait_for(flood.recv(), 30))[1])
    assert ids == [f"f{i}" for i in range(100)]
    assert max(during) < 2000, during

    # a slow client: sends CALLs and never reads the answers; a slowloris half-open handshake
    mute = await _open(live_server, mute_id)
    ATTACKS["slow reader 100 unread answers"] += 1
    for i in range(100):
        await mute.send(json.dumps([2, f"m{i}", "Heartbeat", {}]))
    ATTACKS["slowloris half handshake"] += 1
    _, writer = await asyncio.open_connection("127.0.0.1", int(live_server.base_url.rsplit(":", 1)[1]))
    writer.write(f"GET /ocpp/{mute_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".encode())
    await writer.drain()
    assert max([await _heartbeat_ms(bystander) for _ in range(5)]) < 2000
    writer.close()
    for ws in (bystander, huge, flood):
        await ws.close()
    mute.transport.abort()  # its close frame would queue behind the unread answers
    for cp_id in (bystander_id, huge_id, flood_id, mute_id):
        _assert_no_broken_session(live_server, cp_id)


async def test_an_address_at_its_connection_limit_is_refused_while_other_addresses_connect(
    start_live_server: Callable[..., LiveServer],
) -> None:
    server = start_live_server(ocpp_max_connections_per_ip=3)
    tag = random_id("TG")[:12]
    ids = [_charger(server, tag) for _ in range(5)]
    held = [await _open(server, cp_id) for cp_id in ids[:3]]

    ATTACKS["connection over the per-address limit"] += 1
    with pytest.raises(InvalidStatus) as refused:  # refused before any password check
        await _open(server, ids[3])
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "60"
    other = await _open(server, ids[4], local_addr=("127.0.0.2", 0))  # all of 127/8 is this host: another address
    assert await _heartbeat_ms(other) < 2000
    assert all([await _heartbeat_ms(ws) < 2000 for ws in held])

    await held.pop().close()  # a connection that ends gives its place back
    deadline = time.monotonic() + 10
    while True:
        try:
            held.append(await _open(server, ids[3]))
            break
        except InvalidStatus as exc:
            assert exc.response.status_code == 429 and time.monotonic() < deadline
            await asyncio.sleep(0.05)
    for ws in [*held, other]:
        await ws.close()
