"""PostgreSQL goes away for a while behind the fault proxy (connections cut and new ones refused, then a host that
accepts and never answers) while chargers run sessions. ``/healthz`` answers 503 during the outage and 200 after;
chargers get CALLERRORs (a new connection a 503), and their replayed messages (same message ids) afterwards give
exactly one session and one CDR each, nothing half-written; the server's background workers are still running."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.exceptions import InvalidStatus

from conftest import LiveServer, OcppClient, random_id
from live_servers import running_server, throwaway_postgres
from support.faultproxy import FaultProxy

PASSWORD = "a-long-charger-password-db-faults"
TARIFF = {
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "vat": 20, "step_size": 1}]}],
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def health(server: LiveServer) -> int:
    return httpx.get(f"{server.base_url}/healthz", timeout=10).status_code


async def call_until_ok(charger: OcppClient, action: str, payload: dict[str, Any], message_id: str) -> dict[str, Any]:
    """What a charger does with a CALL that failed: send it again, same message id, until it is answered."""
    deadline = time.monotonic() + 30
    while True:
        answer = await charger.call(action, payload, message_id)
        if answer[0] == 3:
            return dict(answer[2])
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.2)


async def test_a_database_outage_is_reported_by_healthz_and_replayed_messages_make_one_session_and_cdr_each(
    ocpp_client: Any,
) -> None:
    try:
        database = throwaway_postgres()
        direct_url = database.__enter__()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable locally: {exc}")
    faults: Counter[str] = Counter()
    try:
        url = make_url(direct_url)
        with FaultProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            proxied = url.set(port=proxy.port, query={"connect_timeout": "1"}).render_as_string(hide_password=False)
            with running_server(proxied) as server:
                tariff = random_id("T")
                server.put_tariff(tariff, TARIFF)
                chargers = {name: random_id(f"DB{name}") for name in ("A", "B")}
                tags = {name: random_id("TAG") for name in chargers}
                for name, cp in chargers.items():
                    server.register_charger(cp, PASSWORD, tariff_id=tariff)
                    server.register_driver(random_id("drv"), tags[name], payment_method="invoice")
                assert health(server) == 200
                start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
                ids = {key: secrets.token_hex(8) for key in ("start_a", "meter_a", "stop_a", "start_b", "stop_b")}
                boot = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}
                async with (
                    ocpp_client(server, chargers["A"], PASSWORD, "ocpp1.6") as a,
                    ocpp_client(server, chargers["B"], PASSWORD, "ocpp1.6") as b,
                ):
                    await a.ok("BootNotification", boot)
                    await b.ok("BootNotification", boot)
                    begun_a = await a.ok(
                        "StartTransaction",
                        {"connectorId": 1, "idTag": tags["A"], "meterStart": 0, "timestamp": ts(start)},
                        ids["start_a"],
                    )
                    tx_a = begun_a["transactionId"]

                    # --- the outage: every database connection is cut, new ones are refused ---------------------
                    proxy.mode = "refuse"
                    faults["database connections cut"] += proxy.cut()
                    await asyncio.to_thread(wait_for, lambda: health(server) == 503, 15, "healthz 503")
                    sample = {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": "4000"}
                    meter = {
                        "connectorId": 1,
                        "transactionId": tx_a,
                        "meterValue": [{"timestamp": ts(start + timedelta(minutes=20)), "sampledValue": [sample]}],
                    }
                    stop_a = {"transactionId": tx_a, "meterStop": 9000, "timestamp": ts(start + timedelta(minutes=40))}
                    start_b = {"connectorId": 1, "idTag": tags["B"], "meterStart": 0, "timestamp": ts(start)}
                    for charger, action, payload, key in (
                        (a, "MeterValues", meter, "meter_a"),
                        (a, "StopTransaction", stop_a, "stop_a"),
                        (b, "StartTransaction", start_b, "start_b"),
                    ):
                        answer = await charger.call(action, payload, ids[key])
                        assert answer[0] == 4, answer  # a CALLERROR, never a false CALLRESULT
                        faults[f"OCPP {action} during the outage"] += 1
                    with pytest.raises(InvalidStatus) as refused:  # a charger connecting now is told to retry
                        async with ocpp_client(server, chargers["A"], PASSWORD, "ocpp1.6"):
                            pass
                    assert refused.value.response.status_code == 503
                    faults["OCPP connection attempts during the outage"] += 1
                    assert health(server) == 503
                    faults["healthz during the outage"] += 1

                    # --- then the database host stops answering at all (connections accepted, never answered) -
                    proxy.mode = "blackhole"
                    faults["database connections cut"] += proxy.cut()
                    assert health(server) == 503  # within the URL's connect_timeout, not never
                    answer = await b.call("StartTransaction", start_b, ids["start_b"])
                    assert answer[0] == 4, answer
                    faults["OCPP StartTransaction during the outage"] += 1

                    # --- the database is back: chargers replay what was not answered ---------------------------
                    proxy.mode = "pass"
                    await asyncio.to_thread(wait_for, lambda: health(server) == 200, 15, "healthz 200")
                    again = await call_until_ok(
                        a,
                        "StartTransaction",
                        {"connectorId": 1, "idTag": tags["A"], "meterStart": 0, "timestamp": ts(start)},
                        ids["start_a"],
                    )
                    assert again["transactionId"] == tx_a  # a replay of an answered CALL changes nothing
                    await call_until_ok(a, "MeterValues", meter, ids["meter_a"])
                    await call_until_ok(a, "StopTransaction", stop_a, ids["stop_a"])
                    begun_b = await call_until_ok(b, "StartTransaction", start_b, ids["start_b"])
                    assert begun_b["idTagInfo"]["status"] == "Accepted"
                    stop_b = {
                        "transactionId": begun_b["transactionId"],
                        "meterStop": 6000,
                        "timestamp": ts(start + timedelta(minutes=30)),
                    }
                    await call_until_ok(b, "StopTransaction", stop_b, ids["stop_b"])
                    await call_until_ok(b, "StopTransaction", stop_b, ids["stop_b"])  # lost answer: sent twice

                for name, wh in (("A", 9000), ("B", 6000)):
                    sessions = server.api.get("/api/v1/sessions", params={"charge_point_id": chargers[name]}).json()
                    (session,) = sessions["items"]
                    assert session["status"] == "completed", session
                    (cdr,) = server.api.get("/api/v1/cdrs", params={"session_id": session["id"]}).json()["items"]
                    assert cdr["id"] == session["cdr_id"]
                    assert float(cdr["total_energy"]) == wh / 1000
                    assert cdr["total_cost"] is not None
                state = server.app.state
                assert state.invoicing_worker.is_alive()
                assert state.payments.worker is not None and not state.payments.worker.done()
                assert all(not task.done() for task in state.ocpp._tasks)
                await asyncio.to_thread(server.events_consumed)  # settlement and invoicing follow the answers
                pending = server.api.get("/api/v1/pending").json()
                assert pending["total"] == 0, pending
                faults["proxy counts"] = sum(proxy.counts.values())
                print(f"\nfaults injected: {dict(faults)}; sessions lost or doubled: 0")
    finally:
        database.__exit__(None, None, None)
