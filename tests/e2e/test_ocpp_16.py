"""OCPP 1.6J end to end: a real charger WebSocket against a real server, priced CDR over REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import LiveServer, random_id

PASSWORD = "a-long-charger-password-16"
ENERGY_TARIFF = {
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.25", "vat": 21, "step_size": 1}]}],
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def energy(at: datetime, wh: int) -> dict[str, Any]:
    return {
        "timestamp": ts(at),
        "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
    }


def setup(server: LiveServer) -> tuple[str, str]:
    cp, tag = random_id("CP16"), random_id("TAG")
    tariff = random_id("T")
    server.put_tariff(tariff, ENERGY_TARIFF)
    server.register_charger(cp, PASSWORD, tariff_id=tariff)
    server.register_driver(random_id("drv"), tag)
    return cp, tag


async def test_a_16_session_runs_from_boot_to_a_priced_cdr(live_server: LiveServer, ocpp_client: Any) -> None:
    cp, tag = setup(live_server)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with ocpp_client(live_server, cp, PASSWORD, "ocpp1.6") as charger:
        boot = await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        assert boot["status"] == "Accepted"
        assert (await charger.ok("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
        start = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": ts(t0)}
        )
        assert start["idTagInfo"]["status"] == "Accepted"
        txn = start["transactionId"]
        await charger.ok(
            "MeterValues",
            {"connectorId": 1, "transactionId": txn, "meterValue": [energy(t0 + timedelta(minutes=15), 6000)]},
        )
        await charger.ok(
            "StopTransaction",
            {"transactionId": txn, "meterStop": 11000, "timestamp": ts(t0 + timedelta(minutes=30)), "idTag": tag},
        )
    sessions = live_server.api.get("/api/v1/sessions", params={"charge_point_id": cp}).json()["items"]
    assert [(s["status"], s["kwh"]) for s in sessions] == [("completed", "10")]
    cdr = live_server.api.get(f"/api/v1/cdrs/{sessions[0]['cdr_id']}").json()
    assert cdr["total_cost"] == {"excl_vat": "2.5000", "incl_vat": "3.0250"}
