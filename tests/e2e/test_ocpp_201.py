"""OCPP 2.0.1 end to end: TransactionEvent Started/Updated/Ended from a real WebSocket to a priced CDR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from live_servers import LiveServer, OcppClient, random_id
from voltbill.adapters.store.tables.sessions import CdrRow, ConnectorStatusHistoryRow, MeterValueRow, SessionRow

PASSWORD = "a-long-charger-password-201"
TARIFF = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": "0.50", "vat": 19, "step_size": 1},
                {"type": "ENERGY", "price": "0.3999", "vat": 19, "step_size": 1},
            ]
        }
    ],
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def kwh(at: datetime, value: str, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
    """An energy register reading in kWh (2.0.1 unitOfMeasure), as chargers often send it."""
    sample = {
        "value": float(value),
        "measurand": "Energy.Active.Import.Register",
        "context": context,
        "unitOfMeasure": {"unit": "kWh"},
    }
    return [{"timestamp": ts(at), "sampledValue": [sample]}]


def event(kind: str, txn: str, seq: int, at: datetime, **extra: Any) -> dict[str, Any]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "StopAuthorized"}[kind]
    info = {"transactionId": txn, **extra.pop("info", {})}
    return {
        "eventType": kind,
        "timestamp": ts(at),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": info,
        **extra,
    }


def setup(server: LiveServer) -> tuple[str, str]:
    cp, uid, tariff = random_id("CP201"), random_id("UID"), random_id("T")
    server.put_tariff(tariff, TARIFF)
    server.register_charger(cp, PASSWORD, tariff_id=tariff)
    server.register_driver(random_id("drv"), uid)
    return cp, uid


def count(server: LiveServer, entity: Any, **where: Any) -> int:
    with server.app.state.db.uow() as uow:
        stmt = select(func.count()).select_from(entity)
        for key, value in where.items():
            stmt = stmt.where(getattr(entity, key) == value)
        return int(uow.session.scalar(stmt) or 0)


def only_session(server: LiveServer, cp: str) -> dict[str, Any]:
    [session] = server.api.get("/api/v1/sessions", params={"charge_point_id": cp}).json()["items"]
    return dict(session)


async def boot(client: OcppClient) -> None:
    station = {"model": "DC50", "vendorName": "Acme"}
    answer = await client.ok("BootNotification", {"chargingStation": station, "reason": "PowerUp"})
    assert answer["status"] == "Accepted"


async def test_a_201_transaction_runs_from_boot_to_a_priced_cdr_and_total_cost(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    token = {"idToken": uid, "type": "ISO14443"}
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {"CostUpdated": {}}
        await boot(client)
        status = {"timestamp": ts(t0), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
        await client.ok("StatusNotification", status)
        assert (await client.ok("Authorize", {"idToken": token}))["idTokenInfo"]["status"] == "Accepted"
        started = event(
            "Started", txn, 0, t0, idToken=token, evse={"id": 1, "connectorId": 1},
            meterValue=kwh(t0, "100.000", "Transaction.Begin"), info={"chargingState": "Charging"},
        )  # fmt: skip
        assert (await client.ok("TransactionEvent", started))["idTokenInfo"]["status"] == "Accepted"
        updated = event(
            "Updated", txn, 1, t0 + timedelta(minutes=20), meterValue=kwh(t0 + timedelta(minutes=20), "107.5")
        )
        await client.ok("TransactionEvent", updated)
        await client.serve_calls()  # the live cost arrives as CostUpdated
        cost_call = client.received_calls[-1]
        assert cost_call[2] == "CostUpdated" and cost_call[3]["transactionId"] == txn
        assert Decimal(str(cost_call[3]["totalCost"])) == Decimal("4.1641")  # (0.50 + 7.5 * 0.3999) * 1.19
        end = t0 + timedelta(minutes=40)
        ended = event(
            "Ended", txn, 2, end, meterValue=kwh(end, "112.345", "Transaction.End"), info={"stoppedReason": "Local"}
        )
        answer = await client.ok("TransactionEvent", ended)
    session = only_session(server, cp)
    assert (session["status"], session["kwh"], session["protocol"]) == ("completed", "12.345", "ocpp2.0.1")
    cdr = server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
    assert cdr["total_cost"] == {"excl_vat": "5.4368", "incl_vat": "6.4698"}
    assert Decimal(str(answer["totalCost"])) == Decimal(cdr["total_cost"]["incl_vat"])


async def test_every_retried_or_replayed_transaction_event_changes_nothing(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    token = {"idToken": uid, "type": "ISO14443"}
    started = event("Started", txn, 0, t0, idToken=token, evse={"id": 2, "connectorId": 1}, meterValue=kwh(t0, "5"))
    updated = event("Updated", txn, 1, t0 + timedelta(minutes=5), meterValue=kwh(t0 + timedelta(minutes=5), "6"))
    ended = event("Ended", txn, 2, t0 + timedelta(minutes=9), meterValue=kwh(t0 + timedelta(minutes=9), "7"))
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {"CostUpdated": {}}
        for message in (started, updated, ended):
            first = await client.ok("TransactionEvent", message, "same-id-" + message["eventType"])
            assert await client.ok("TransactionEvent", message, "same-id-" + message["eventType"]) == first
    # reconnect and replay the whole queue, flagged offline, with new message ids
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        answers = [await client.ok("TransactionEvent", {**m, "offline": True}) for m in (started, updated, ended)]
    assert answers[2]["totalCost"] == first["totalCost"]
    session = only_session(server, cp)
    assert (session["evse_id"], session["kwh"]) == (2, "2")
    assert count(server, SessionRow, charge_point_id=cp) == 1
    assert count(server, MeterValueRow, session_id=session["id"]) == 3
    assert count(server, CdrRow, session_id=session["id"]) == 1


async def test_an_ended_event_whose_start_was_lost_still_makes_one_priced_session(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    readings = kwh(t0, "40", "Transaction.Begin") + kwh(t0 + timedelta(minutes=30), "50", "Transaction.End")
    ended = event("Ended", txn, 7, t0 + timedelta(minutes=30), offline=True, meterValue=readings,
                  idToken={"idToken": uid, "type": "ISO14443"})  # fmt: skip
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        first = await client.ok("TransactionEvent", ended)
        assert await client.ok("TransactionEvent", ended) == first
    session = only_session(server, cp)
    assert (session["status"], session["kwh"]) == ("completed", "10")
    assert "started_unknown" in session["flags"]
    assert first["totalCost"] == 5.3538  # (0.50 + 10 * 0.3999) * 1.19, rounded to 4 decimals


async def test_a_transaction_started_by_plugging_in_is_billed_to_the_token_presented_later(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {"CostUpdated": {}}
        await client.ok("TransactionEvent", event("Started", txn, 0, t0, evse={"id": 1, "connectorId": 1}))
        assert only_session(server, cp)["driver_id"] is None
        authorized = event(
            "Updated", txn, 1, t0 + timedelta(minutes=1), idToken={"idToken": uid, "type": "ISO14443"},
            meterValue=kwh(t0 + timedelta(minutes=1), "1"),
        )  # fmt: skip
        answer = await client.ok("TransactionEvent", authorized)
        assert answer["idTokenInfo"]["status"] == "Accepted"
    session = only_session(server, cp)
    assert session["driver_id"] is not None and session["id_token"] == uid


@pytest.mark.parametrize("lost", [None, 2], ids=["all-arrived", "seq-no-2-lost"])
async def test_a_transaction_is_flagged_when_a_seq_no_never_arrived_however_often_others_are_replayed(
    shared_live_server: LiveServer, ocpp_client: Any, lost: int | None
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    at = [t0 + timedelta(minutes=5 * n) for n in range(5)]
    events = [
        event("Started", txn, 0, at[0], idToken={"idToken": uid, "type": "ISO14443"}, evse={"id": 1, "connectorId": 1},
              meterValue=kwh(at[0], "20", "Transaction.Begin")),
        event("Updated", txn, 1, at[1], meterValue=kwh(at[1], "21")),
        event("Updated", txn, 2, at[2], info={"chargingState": "SuspendedEV"}),  # no samples: only its seqNo
        event("Updated", txn, 3, at[3], meterValue=kwh(at[3], "22"), info={"chargingState": "Charging"}),
        event("Ended", txn, 4, at[4], meterValue=kwh(at[4], "23", "Transaction.End")),
    ]  # fmt: skip
    sent = [e for e in events if e["seqNo"] != lost]
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {"CostUpdated": {}}
        for message in sent[:-2]:
            await client.ok("TransactionEvent", message, f"te-{message['seqNo']}")
            await client.ok("TransactionEvent", message, f"te-{message['seqNo']}")  # answer lost: resent
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:  # back online: the whole queue again
        client.auto_answer = {"CostUpdated": {}}
        for message in sent:
            await client.ok("TransactionEvent", {**message, "offline": True})
        await client.ok("TransactionEvent", sent[-1])
    session = only_session(server, cp)
    assert (session["status"], session["kwh"]) == ("completed", "3")
    assert ("seq_no_gap" in session["flags"]) is (lost is not None)


async def test_a_charging_state_repeated_in_every_event_is_stored_once_and_its_changes_price_the_parking(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, uid = setup(server)
    txn = random_id("tx")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    at = [t0 + timedelta(minutes=10 * n) for n in range(7)]
    states = ["Charging", "Charging", "Charging", "SuspendedEV", "SuspendedEV", "Charging"]
    async with ocpp_client(server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {"CostUpdated": {}}
        started = event(
            "Started", txn, 0, at[0], idToken={"idToken": uid, "type": "ISO14443"}, evse={"id": 1, "connectorId": 1},
            meterValue=kwh(at[0], "10", "Transaction.Begin"), info={"chargingState": states[0]},
        )  # fmt: skip
        await client.ok("TransactionEvent", started)
        for n in range(1, 6):
            updated = event(
                "Updated", txn, n, at[n], meterValue=kwh(at[n], str(10 + n)), info={"chargingState": states[n]}
            )
            await client.ok("TransactionEvent", updated)
        ended = event("Ended", txn, 6, at[6], meterValue=kwh(at[6], "16", "Transaction.End"))
        await client.ok("TransactionEvent", ended)
    with server.app.state.db.uow() as uow:
        history = uow.session.execute(
            select(ConnectorStatusHistoryRow.timestamp, ConnectorStatusHistoryRow.status)
            .where(ConnectorStatusHistoryRow.charge_point_id == cp)
            .order_by(ConnectorStatusHistoryRow.timestamp)
        ).all()
    assert [(row.timestamp, row.status) for row in history] == [
        (at[0], "Charging"), (at[3], "SuspendedEV"), (at[5], "Charging")
    ]  # fmt: skip
    cdr = server.api.get(f"/api/v1/cdrs/{only_session(server, cp)['cdr_id']}").json()
    assert (cdr["total_energy"], cdr["total_time"], cdr["total_parking_time"]) == (6, 1, 0.3333)  # 20 min parked
