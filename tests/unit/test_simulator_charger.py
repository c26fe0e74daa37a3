"""The simulated charger against a minimal in-process central system (real WebSocket, the ``ocpp`` library):
replays lost transaction messages with their original id and obeys the server's calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201
from websockets.asyncio.server import ServerConnection, serve

from voltbill.simulator.config import SimulationConfig
from voltbill.simulator.runner import build_chargers, run_simulation


class Csms:
    """Records every raw frame per action; ``on_frame`` may react (e.g. drop the connection)."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []
        self.on_frame: Callable[[Any, list[Any]], Any] | None = None
        self.next_tx = 100
        self.tasks: list[asyncio.Future[None]] = []

    def seen(self, action: str) -> list[list[Any]]:
        return [f for f in self.frames if f[0] == 2 and f[2] == action]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _links(csms: Csms) -> tuple[type[Cp16], type[Cp201]]:
    class Link16(Cp16):
        async def route_message(self, raw_msg: str) -> None:
            frame = json.loads(raw_msg)
            csms.frames.append(frame)
            if csms.on_frame is not None and await csms.on_frame(self, frame):
                return
            await super().route_message(raw_msg)

        @on(A16.boot_notification)
        def on_boot(self, **_: Any) -> r16.BootNotification:
            return r16.BootNotification(current_time=_now(), interval=300, status="Accepted")

        @on(A16.heartbeat)
        def on_heartbeat(self) -> r16.Heartbeat:
            return r16.Heartbeat(current_time=_now())

        @on(A16.status_notification)
        def on_status(self, **_: Any) -> r16.StatusNotification:
            return r16.StatusNotification()

        @on(A16.authorize)
        def on_authorize(self, **_: Any) -> r16.Authorize:
            return r16.Authorize(id_tag_info={"status": "Accepted"})

        @on(A16.start_transaction)
        def on_start(self, **_: Any) -> r16.StartTransaction:
            csms.next_tx += 1
            return r16.StartTransaction(transaction_id=csms.next_tx, id_tag_info={"status": "Accepted"})

        @on(A16.meter_values)
        def on_meter(self, **_: Any) -> r16.MeterValues:
            return r16.MeterValues()

        @on(A16.stop_transaction)
        def on_stop(self, **_: Any) -> r16.StopTransaction:
            return r16.StopTransaction()

    class Link201(Cp201):
        async def route_message(self, raw_msg: str) -> None:
            frame = json.loads(raw_msg)
            csms.frames.append(frame)
            if csms.on_frame is not None and await csms.on_frame(self, frame):
                return
            await super().route_message(raw_msg)

        @on(A201.boot_notification)
        def on_boot(self, **_: Any) -> r201.BootNotification:
            return r201.BootNotification(current_time=_now(), interval=300, status="Accepted")

        @on(A201.heartbeat)
        def on_heartbeat(self) -> r201.Heartbeat:
            return r201.Heartbeat(current_time=_now())

        @on(A201.status_notification)
        def on_status(self, **_: Any) -> r201.StatusNotification:
            return r201.StatusNotification()

        @on(A201.authorize)
        def on_authorize(self, **_: Any) -> r201.Authorize:
            return r201.Authorize(id_token_info={"status": "Accepted"})

        @on(A201.transaction_event)
        def on_event(self, **_: Any) -> r201.TransactionEvent:
            return r201.TransactionEvent()

    return Link16, Link201


@pytest.fixture
async def csms() -> AsyncIterator[tuple[Csms, str]]:
    state = Csms()
    link16, link201 = _links(state)

    async def handler(ws: ServerConnection) -> None:
        cls = link16 if ws.subprotocol == "ocpp1.6" else link201
        cp = cls(ws.request.path.rsplit("/", 1)[-1], ws)  # type: ignore[union-attr]
        try:
            await cp.start()
        except Exception:
            return

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        yield state, f"ws://127.0.0.1:{port}/ocpp"


def _config(url: str, protocol: str, **overrides: Any) -> SimulationConfig:
    values: dict[str, Any] = dict(
        url=url,
        chargers=build_chargers(1, protocol=protocol, kind="ac"),
        sessions=1,
        speed=3600,
        meter_interval_s=300,
        max_session_s=1800,
        gap_s=1,
        timeout_s=5,
        seed=3,
    )
    values.update(overrides)
    return SimulationConfig(**values)


async def test_a_stop_whose_answer_was_lost_is_resent_with_the_same_message_id(csms: tuple[Csms, str]) -> None:
    server, url = csms
    dropped: list[str] = []

    async def drop_first_stop(cp: Any, frame: list[Any]) -> bool:
        if frame[0] == 2 and frame[2] == "StopTransaction" and not dropped:
            dropped.append(frame[1])
            await cp._connection.close()
            return True
        return False

    server.on_frame = drop_first_stop
    summary, _ = await run_simulation(_config(url, "ocpp1.6"))

    stops = server.seen("StopTransaction")
    assert [f[1] for f in stops] == [dropped[0], dropped[0]]
    assert len(server.seen("BootNotification")) == 2
    assert summary["sessions_completed"] == 1


async def test_meter_values_carry_a_rising_register_with_all_four_measurands(csms: tuple[Csms, str]) -> None:
    server, url = csms
    await run_simulation(_config(url, "ocpp1.6"))

    registers = []
    for frame in server.seen("MeterValues"):
        sampled = frame[3]["meterValue"][0]["sampledValue"]
        assert {s["measurand"] for s in sampled} == {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "SoC",
        }
        registers.append(float(next(s["value"] for s in sampled if s["measurand"].startswith("Energy"))))
    assert len(registers) >= 5
    assert registers == sorted(registers)
    start = server.seen("StartTransaction")[0][3]["meterStart"]
    stop = server.seen("StopTransaction")[0][3]["meterStop"]
    assert start <= registers[0] and stop >= registers[-1] - 1


async def test_a_2_0_1_station_stops_when_the_server_requests_it(csms: tuple[Csms, str]) -> None:
    server, url = csms
    answers: list[Any] = []

    async def stop_after_start(cp: Any, frame: list[Any]) -> bool:
        if frame[0] == 2 and frame[2] == "TransactionEvent" and frame[3]["eventType"] == "Started":
            tx_id = frame[3]["transactionInfo"]["transactionId"]

            async def request() -> None:
                await asyncio.sleep(0.05)
                answers.append(await cp.call(call201.RequestStopTransaction(transaction_id=tx_id)))
                answers.append(
                    await cp.call(
                        call201.GetVariables(
                            get_variable_data=[
                                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
                            ]
                        )
                    )
                )

            server.tasks.append(asyncio.ensure_future(request()))
        return False

    server.on_frame = stop_after_start
    summary, _ = await run_simulation(_config(url, "ocpp2.0.1", max_session_s=4 * 3600))

    ended = [f[3] for f in server.seen("TransactionEvent") if f[3]["eventType"] == "Ended"]
    assert ended[0]["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended[0]["triggerReason"] == "RemoteStop"
    assert answers[0].status == "Accepted"
    assert answers[1].get_variable_result[0]["attribute_value"] == "300"
    seq = [f[3]["seqNo"] for f in server.seen("TransactionEvent")]
    assert seq == list(range(len(seq)))
    assert summary["server_calls"] == {"GetVariables": 1, "RequestStopTransaction": 1}


async def test_a_1_6_charger_starts_a_session_when_the_server_asks_without_authorizing(
    csms: tuple[Csms, str],
) -> None:
    server, url = csms

    async def remote_start_after_boot(cp: Any, frame: list[Any]) -> bool:
        if frame[0] == 2 and frame[2] == "StatusNotification" and not server.seen("StartTransaction"):

            async def request() -> None:
                await asyncio.sleep(0.05)
                await cp.call(call16.RemoteStartTransaction(id_tag="REMOTE-1"))

            server.tasks.append(asyncio.ensure_future(request()))
        return False

    server.on_frame = remote_start_after_boot
    await run_simulation(_config(url, "ocpp1.6", gap_s=3600))

    assert server.seen("StartTransaction")[0][3]["idTag"] == "REMOTE-1"
    assert server.seen("Authorize") == []


async def test_each_driver_stays_between_half_and_all_of_the_longest_charge(csms: tuple[Csms, str]) -> None:
    server, url = csms
    chargers = build_chargers(4, protocol="ocpp1.6", kind="ac", limit_w=3_700.0)  # slow: never full in 30 min
    summary, _ = await run_simulation(_config(url, "ocpp1.6", chargers=chargers, sessions=3, seed=8))

    assert summary["sessions_completed"] == 12
    stays = []
    for spec in chargers:  # each charger's sessions one after the other: its n-th stop ends its n-th start
        starts = [f[3]["timestamp"] for f in server.seen("StartTransaction") if f[3]["idTag"] == spec.id_tag]
        stops = [f[3]["timestamp"] for f in server.seen("StopTransaction") if f[3]["idTag"] == spec.id_tag]
        stays += [
            (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
            for a, b in zip(starts, stops, strict=True)
        ]
    # at 3,600x a millisecond of scheduling is 3.6 simulated seconds: a minute of slack above the longest charge
    assert all(900 <= s <= 1800 + 60 for s in stays), stays
    assert max(stays) - min(stays) > 300, stays  # drawn per session, not one length for all
