"""OCPP 1.6J end to end: a real charger WebSocket against a real server, priced CDRs over REST."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from live_servers import LiveServer, random_id
from voltbill.adapters.store.tables.sessions import CdrRow, MeterValueRow, SessionRow

PASSWORD = "a-long-charger-password-16"
ENERGY_TARIFF = {
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.25", "vat": 21, "step_size": 1}]}],
}
# energy, charging time and parking time: every dimension the live cost and the CDR must agree on
MIXED_TARIFF = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": "0.31", "vat": 20, "step_size": 1},
                {"type": "TIME", "price": "1.20", "vat": 20, "step_size": 60},
                {"type": "PARKING_TIME", "price": "6.00", "vat": 20, "step_size": 60},
            ]
        }
    ],
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def energy(at: datetime, wh: int) -> dict[str, Any]:
    sample = {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return {"timestamp": ts(at), "sampledValue": [sample]}


def an_hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def setup(server: LiveServer, tariff: dict[str, Any] | None = ENERGY_TARIFF) -> tuple[str, str]:
    cp, tag = random_id("CP16"), random_id("TAG")
    tariff_id = None
    if tariff is not None:
        tariff_id = random_id("T")
        server.put_tariff(tariff_id, tariff)
    server.register_charger(cp, PASSWORD, tariff_id=tariff_id)
    server.register_driver(random_id("drv"), tag)
    return cp, tag


def count(server: LiveServer, entity: Any, **where: Any) -> int:
    with server.app.state.db.uow() as uow:
        stmt = select(func.count()).select_from(entity)
        for key, value in where.items():
            stmt = stmt.where(getattr(entity, key) == value)
        return int(uow.session.scalar(stmt) or 0)


def sessions_of(server: LiveServer, cp: str) -> list[dict[str, Any]]:
    return list(server.api.get("/api/v1/sessions", params={"charge_point_id": cp}).json()["items"])


async def test_a_16_session_runs_from_boot_to_a_priced_cdr(shared_live_server: LiveServer, ocpp_client: Any) -> None:
    cp, tag = setup(shared_live_server)
    t0 = an_hour_ago()
    async with ocpp_client(shared_live_server, cp, PASSWORD, "ocpp1.6") as charger:
        boot = await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        assert boot["status"] == "Accepted"
        assert "currentTime" in await charger.ok("Heartbeat", {})
        assert (await charger.ok("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
        start = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": ts(t0)}
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        txn = start["transactionId"]
        meter = [energy(t0 + timedelta(minutes=15), 6000)]
        await charger.ok("MeterValues", {"connectorId": 1, "transactionId": txn, "meterValue": meter})
        assert [s["status"] for s in sessions_of(shared_live_server, cp)] == ["active"]
        stop = {"transactionId": txn, "meterStop": 11000, "timestamp": ts(t0 + timedelta(minutes=30)), "idTag": tag}
        await charger.ok("StopTransaction", stop)
    [session] = sessions_of(shared_live_server, cp)
    assert (session["status"], session["kwh"], session["driver_id"]) == ("completed", "10", session["driver_id"])
    assert session["start_date_time"].startswith(t0.isoformat()[:19])
    answer = shared_live_server.api.get(f"/api/v1/cdrs/{session['cdr_id']}")
    cdr = json.loads(answer.text, parse_float=Decimal)
    assert cdr["total_cost"] == {"excl_vat": "2.5000", "incl_vat": "3.0250"}
    # OCPI 2.2.1 types, number: volumes are JSON numbers, written with their exact decimals.
    assert '"total_energy":10.0000,' in answer.text
    assert [d["volume"] for p in cdr["charging_periods"] for d in p["dimensions"]] == [Decimal(10), Decimal("0.5")]
    documented = shared_live_server.api.get("/openapi.json").json()["components"]["schemas"]["CdrOut"]["properties"]
    assert documented["total_energy"]["type"] == "number"
    listed = shared_live_server.api.get("/api/v1/cdrs", params={"session_id": session["id"]}).json()["items"]
    assert [c["id"] for c in listed] == [cdr["id"]]


async def test_unknown_and_blocked_tags_are_refused_by_authorize(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp, tag = setup(shared_live_server)
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        assert (await charger.ok("Authorize", {"idTag": "NOBODY"}))["idTagInfo"]["status"] == "Invalid"
        checks = shared_live_server.app.state.start_checks
        refuse_this_tag = lambda uow, token: "wallet below minimum" if token.uid == tag else None  # noqa: E731
        checks.append(refuse_this_tag)
        try:
            assert (await charger.ok("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Blocked"
        finally:
            checks.remove(refuse_this_tag)


async def test_every_retried_16_message_changes_nothing(shared_live_server: LiveServer, ocpp_client: Any) -> None:
    cp, tag = setup(shared_live_server)
    t0 = an_hour_ago()
    start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(t0)}
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": ts(t0)}
        for message_id in ("st-1", "st-1", "st-2"):
            await charger.ok("StatusNotification", status, message_id)
        first = await charger.ok("StartTransaction", start, "start-1")
        assert await charger.ok("StartTransaction", start, "start-1") == first  # same message id
        assert await charger.ok("StartTransaction", start, "start-2") == first  # resent with a new id
        meter = {
            "connectorId": 1,
            "transactionId": first["transactionId"],
            "meterValue": [energy(t0 + timedelta(minutes=10), 4000)],
        }
        for message_id in ("mv-1", "mv-1", "mv-2"):
            await charger.ok("MeterValues", meter, message_id)
        stop = {"transactionId": first["transactionId"], "meterStop": 8000, "timestamp": ts(t0 + timedelta(minutes=20))}
        answers = [await charger.ok("StopTransaction", stop, message_id) for message_id in ("sp-1", "sp-1", "sp-2")]
        assert answers[0] == answers[1] == answers[2]
    [session] = sessions_of(shared_live_server, cp)
    assert session["kwh"] == "8"
    assert count(shared_live_server, SessionRow, charge_point_id=cp) == 1
    assert count(shared_live_server, MeterValueRow, session_id=session["id"]) == 1
    assert count(shared_live_server, CdrRow, session_id=session["id"]) == 1


async def test_a_charger_that_reconnects_replays_its_queue_without_duplicates(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp, tag = setup(shared_live_server)
    t0 = an_hour_ago()
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        start = {"connectorId": 1, "idTag": tag, "meterStart": 500, "timestamp": ts(t0)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        meter = {"connectorId": 1, "transactionId": txn, "meterValue": [energy(t0 + timedelta(minutes=5), 1500)]}
        await charger.ok("MeterValues", meter)
    # offline; back online it sends what it queued, then loses the answer to StopTransaction and sends it again
    queued = [energy(t0 + timedelta(minutes=m), 1500 + 1000 * m) for m in (10, 20)]
    stop = {"transactionId": txn, "meterStop": 21500, "timestamp": ts(t0 + timedelta(minutes=25))}
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        await charger.ok("MeterValues", meter)
        await charger.ok("MeterValues", {"connectorId": 1, "transactionId": txn, "meterValue": queued})
        await charger.ok("StopTransaction", stop, "stop-queued")
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        await charger.ok("StopTransaction", stop, "stop-queued")
        await charger.ok("StopTransaction", {**stop, "transactionData": queued})
    [session] = sessions_of(shared_live_server, cp)
    assert (session["status"], session["kwh"]) == ("completed", "21")
    assert count(shared_live_server, MeterValueRow, session_id=session["id"]) == 3
    assert count(shared_live_server, CdrRow, session_id=session["id"]) == 1


async def test_the_final_cdr_equals_the_last_live_cost(shared_live_server: LiveServer, ocpp_client: Any) -> None:
    cp, tag = setup(shared_live_server, MIXED_TARIFF)
    t0 = an_hour_ago()
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        start = {"connectorId": 1, "idTag": tag, "meterStart": 12345, "timestamp": ts(t0)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": ts(t0)}
        await charger.ok("StatusNotification", status)
        readings = [(7, 3210), (19, 9876), (31, 15321)]
        for minute, wh in readings:
            meter = {
                "connectorId": 1,
                "transactionId": txn,
                "meterValue": [energy(t0 + timedelta(minutes=minute), 12345 + wh)],
            }
            await charger.ok("MeterValues", meter)
        parked = {**status, "status": "SuspendedEV", "timestamp": ts(t0 + timedelta(minutes=31))}
        await charger.ok("StatusNotification", parked)
        end = t0 + timedelta(minutes=47)
        await charger.ok(
            "MeterValues", {"connectorId": 1, "transactionId": txn, "meterValue": [energy(end, 12345 + 15321)]}
        )
        [session] = sessions_of(shared_live_server, cp)
        live = shared_live_server.api.get(f"/api/v1/sessions/{session['id']}").json()["live_cost"]
        assert live["as_of"].startswith(end.isoformat()[:19])
        await charger.ok("StopTransaction", {"transactionId": txn, "meterStop": 12345 + 15321, "timestamp": ts(end)})
    [session] = sessions_of(shared_live_server, cp)
    cdr = shared_live_server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
    assert cdr["total_cost"] == live["total_cost"]
    assert cdr["total_parking_time"] == 0.2667  # 16 minutes parked are billed as parking, not charging
    assert shared_live_server.api.get(f"/api/v1/sessions/{session['id']}").json()["live_cost"] is None


async def test_charger_clock_running_ahead_is_clamped_and_flagged(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp, tag = setup(shared_live_server)
    future = datetime.now(UTC) + timedelta(days=3)
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(future)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        stop = {"transactionId": txn, "meterStop": 2000, "timestamp": ts(future + timedelta(minutes=30))}
        await charger.ok("StopTransaction", stop)
    [session] = sessions_of(shared_live_server, cp)
    assert "clock_skew_clamped" in session["flags"]
    assert datetime.fromisoformat(session["end_date_time"]) <= datetime.now(UTC)
    assert session["kwh"] == "2"


async def test_a_session_without_tariff_keeps_an_unpriced_cdr(shared_live_server: LiveServer, ocpp_client: Any) -> None:
    cp, tag = setup(shared_live_server, tariff=None)
    t0 = an_hour_ago()
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(t0)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        await charger.ok(
            "StopTransaction", {"transactionId": txn, "meterStop": 3000, "timestamp": ts(t0 + timedelta(minutes=9))}
        )
    [session] = sessions_of(shared_live_server, cp)
    cdr = shared_live_server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
    assert cdr["total_cost"] is None
    assert cdr["voltbill_pricing_error"]["code"] == "tariff_missing"
    assert cdr["total_energy"] == 3
    assert "unpriced" in session["flags"]


async def test_a_session_whose_charger_vanished_is_closed_by_timeout(start_live_server: Any, ocpp_client: Any) -> None:
    server = start_live_server(session_timeout_s=1)
    cp, tag = setup(server)
    t0 = an_hour_ago()
    async with ocpp_client(server, cp, PASSWORD) as charger:
        start = {"connectorId": 1, "idTag": tag, "meterStart": 100, "timestamp": ts(t0)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        meter = {"connectorId": 1, "transactionId": txn, "meterValue": [energy(t0 + timedelta(minutes=3), 4100)]}
        await charger.ok("MeterValues", meter)
    for _ in range(100):
        [session] = sessions_of(server, cp)
        if session["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    assert session["status"] == "completed"
    assert "closed_by_timeout" in session["flags"]
    assert session["kwh"] == "4"
    assert session["end_date_time"].startswith((t0 + timedelta(minutes=3)).isoformat()[:19])
    cdr = server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
    assert cdr["total_cost"]["excl_vat"] == "1.0000"


async def test_a_stop_whose_start_was_lost_opens_a_flagged_session_from_its_data_once(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp, tag = setup(shared_live_server)
    t0 = an_hour_ago()
    invented = 1_000_000 + secrets.randbelow(10**9)  # made up offline, or its StartTransaction was dropped
    data = [energy(t0 + timedelta(minutes=10), 5000), energy(t0, 2000)]
    stop = {"transactionId": invented, "idTag": tag, "meterStop": 9000, "timestamp": ts(t0 + timedelta(minutes=20)),
            "reason": "EVDisconnected", "transactionData": data}  # fmt: skip
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        first = await charger.ok("StopTransaction", stop, "stop-1")
        assert first["idTagInfo"]["status"] == "Accepted"
        assert await charger.ok("StopTransaction", stop, "stop-1") == first
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:  # the queue replayed after reconnecting
        assert await charger.ok("StopTransaction", stop, "stop-2") == first
    [session] = sessions_of(shared_live_server, cp)
    assert (session["status"], session["transaction_id"], session["kwh"]) == ("completed", str(invented), "7")
    assert session["start_date_time"].startswith(t0.isoformat()[:19])  # its earliest register reading
    assert session["driver_id"] is not None and session["id_token"] == tag
    assert "started_unknown" in session["flags"]
    cdr = shared_live_server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
    assert cdr["total_cost"] == {"excl_vat": "1.7500", "incl_vat": "2.1175"}  # 7 kWh at 0.25 + 21 % VAT
    assert count(shared_live_server, SessionRow, charge_point_id=cp) == 1
    assert count(shared_live_server, MeterValueRow, session_id=session["id"]) == 2
    assert count(shared_live_server, CdrRow, session_id=session["id"]) == 1


async def test_a_lost_start_without_readings_makes_a_session_at_the_stop(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp, _ = setup(shared_live_server)
    end = an_hour_ago()
    stop = {"transactionId": 1_000_000 + secrets.randbelow(10**9), "meterStop": 4321, "timestamp": ts(end)}
    async with ocpp_client(shared_live_server, cp, PASSWORD) as charger:
        assert await charger.ok("StopTransaction", stop) == {}  # no idTag, no idTagInfo
    [session] = sessions_of(shared_live_server, cp)
    assert session["start_date_time"] == session["end_date_time"]
    assert (session["status"], session["kwh"], session["driver_id"]) == ("completed", "0", None)
    assert session["flags"] == ["started_unknown"]


async def _session_with_two_readings(server: LiveServer, ocpp_client: Any) -> tuple[Any, str]:
    """A 1.6 session of an invoice driver whose readings span two minutes, sent 1.5 s apart (cost interval 1 s)."""
    cp, tag = setup(server)
    t0 = an_hour_ago()
    async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
        charger.auto_answer = {"DataTransfer": {"status": "Accepted"}}
        await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        start = {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": ts(t0)}
        txn = (await charger.ok("StartTransaction", start))["transactionId"]
        for minute in (1, 2):
            await asyncio.sleep(1.5)
            reading = energy(t0 + timedelta(minutes=minute), 1000 + 200 * minute)
            await charger.ok("MeterValues", {"connectorId": 1, "transactionId": txn, "meterValue": [reading]})
        with contextlib.suppress(TimeoutError):  # a cost update, if one is sent
            await charger.serve_calls(timeout=1.5)
        return charger, str(txn)


async def test_live_cost_is_priced_only_for_sessions_someone_follows(start_live_server: Any, ocpp_client: Any) -> None:
    quiet = start_live_server(ocpp_cost_update_interval_s=1)
    unfollowed: list[dict[str, Any]] = []
    quiet.app.state.bus.subscribe("session.cost_updated", unfollowed.append)
    charger, _ = await _session_with_two_readings(quiet, ocpp_client)
    quiet.events_consumed()
    assert unfollowed == [] and charger.received_calls == []  # an invoice driver on a 1.6 charger: nobody follows

    told = start_live_server(ocpp_cost_update_interval_s=1, ocpp16_cost_data_transfer=True)
    followed: list[dict[str, Any]] = []
    told.app.state.bus.subscribe("session.cost_updated", followed.append)
    charger, txn = await _session_with_two_readings(told, ocpp_client)
    told.events_consumed()
    assert followed and {e["transaction_id"] for e in followed} == {txn}
    pushed = {(c[2], json.loads(c[3]["data"])["transactionId"]) for c in charger.received_calls}
    assert pushed == {("DataTransfer", int(txn))}
