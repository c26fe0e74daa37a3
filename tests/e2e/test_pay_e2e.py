"""Charge and pay end to end: real OCPP 1.6 sessions against a real server with the sandbox gateway.

A wallet driver's session is debited from the wallet; a card driver's is pre-authorised at start and the CDR total
captured; an ad-hoc driver pays on ``/pay/{evse_id}`` and the charger is started remotely; a wallet that runs dry
stops the session. Every run ends with a balanced trial balance.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import stripe

from conftest import LiveServer, random_id
from localstripe_server import running_localstripe
from voltbill.adapters.payments.sandbox import tokenize_card
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line

PASSWORD = "a-long-charger-password-pay"
TARIFF = {
    "currency": "EUR",
    "min_price": {"excl_vat": "1.00", "incl_vat": "1.19"},
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": "0.50", "vat": 19, "step_size": 1},
                {"type": "ENERGY", "price": "0.40", "vat": 19, "step_size": 1},
                {"type": "PARKING_TIME", "price": "6.00", "vat": 19, "step_size": 60},
            ]
        }
    ],
}


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def setup(server: LiveServer, method: str) -> tuple[str, str, str]:
    cp, tag, driver, tariff = random_id("CP"), random_id("TAG"), random_id("drv"), random_id("T")
    server.put_tariff(tariff, TARIFF)
    server.register_charger(cp, PASSWORD, tariff_id=tariff)
    server.register_driver(driver, tag, payment_method=method)
    return cp, tag, driver


async def session(server: LiveServer, ocpp_client: Any, cp: str, tag: str, wh: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
        await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        begun = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
        )
        assert begun["idTagInfo"]["status"] == "Accepted", begun
        stop = {
            "transactionId": begun["transactionId"],
            "meterStop": wh,
            "timestamp": ts(start + timedelta(minutes=30)),
        }
        await charger.ok("StopTransaction", {**stop, "idTag": tag})
    await asyncio.to_thread(server.events_consumed)  # the wallet debit follows the charger's answer
    (cdr,) = server.api.get("/api/v1/cdrs", params={"session_id": await session_id(server, cp)}).json()["items"]
    return dict(cdr)


async def session_id(server: LiveServer, cp: str) -> str:
    (item,) = server.api.get("/api/v1/sessions", params={"charge_point_id": cp}).json()["items"]
    return str(item["id"])


def paid(cdr: dict[str, Any]) -> Decimal:
    return invoice_line(Money(Decimal(str(cdr["total_cost"]["incl_vat"])), "EUR")).amount


def wait_for(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def balanced(server: LiveServer) -> bool:
    return bool(server.api.get("/api/v1/ledger/trial-balance").json()["balanced"])


async def test_a_wallet_drivers_session_is_debited_from_the_wallet(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, tag, driver = setup(server, "wallet")
    top_up = {"amount": "30.00", "currency": "EUR"}
    server.api.post(
        f"/api/v1/drivers/{driver}/wallet/top-ups", json=top_up, headers={"Idempotency-Key": random_id("k")}
    ).raise_for_status()
    cdr = await session(server, ocpp_client, cp, tag, 12_500)
    wallet = server.api.get(f"/api/v1/drivers/{driver}/wallet").json()
    assert Decimal(wallet["balance"]) == Decimal("30.00") - paid(cdr)
    (payment,) = server.api.get(f"/api/v1/drivers/{driver}/payments").json()["items"]
    assert (payment["status"], Decimal(payment["amount"])) == ("paid", paid(cdr))
    assert balanced(server)


async def test_a_card_drivers_session_is_held_at_start_and_the_cdr_total_captured(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, tag, driver = setup(server, "card")
    card = {"provider": "sandbox", "payment_method_id": tokenize_card("4242424242424242")}
    server.api.put(f"/api/v1/drivers/{driver}/card", json=card).raise_for_status()
    cdr = await session(server, ocpp_client, cp, tag, 20_000)

    def captured() -> dict[str, Any] | None:
        (payment,) = server.api.get(f"/api/v1/drivers/{driver}/payments").json()["items"]
        return payment if payment["status"] == "captured" else None

    payment = await asyncio.to_thread(wait_for, captured)
    assert Decimal(payment["authorised_amount"]) == Decimal("50.00")
    assert Decimal(payment["captured_amount"]) == paid(cdr)
    reconciliation = server.api.get("/api/v1/ledger/card-reconciliation").json()["currencies"]
    assert all(currency["reconciled"] for currency in reconciliation)
    assert balanced(server)


async def test_a_card_driver_without_a_card_on_file_cannot_start(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, tag, _ = setup(server, "card")
    async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
        answer = await charger.ok("Authorize", {"idTag": tag})
    assert answer["idTagInfo"]["status"] != "Accepted"


async def test_an_ad_hoc_driver_pays_on_the_pay_page_and_the_charger_starts_remotely(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, _, _ = setup(server, "wallet")
    async with (
        ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as browser,
    ):
        await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        page = await browser.get(f"/pay/{cp}-1")
        assert page.status_code == 200
        assert "per kWh" in page.text and "0.40 EUR" in page.text and "0.476 EUR" in page.text
        assert "per minute idle" in page.text and "0.10 EUR" in page.text
        assert "at least 1.00 EUR excl. VAT (1.19 EUR incl. VAT)" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        charger.auto_answer["RemoteStartTransaction"] = {"status": "Accepted"}
        form = {"csrf_token": csrf.group(1), "card_number": "4242 4242 4242 4242", "email": "guest@example.org"}
        post = asyncio.create_task(browser.post(f"/pay/{cp}-1/start", data=form))
        await charger.serve_calls()
        started = await post
        assert started.status_code == 303, started.text
        remote = charger.received_calls[-1]
        assert remote[2] == "RemoteStartTransaction" and remote[3]["connectorId"] == 1
        tag = remote[3]["idTag"]
        status_url = started.headers["location"] + ".json"
        assert (await browser.get(status_url)).json()["status"] == "waiting"

        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
        begun = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
        )
        assert begun["idTagInfo"]["status"] == "Accepted"
        assert (await browser.get(status_url)).json()["status"] == "active"
        stop = {
            "transactionId": begun["transactionId"],
            "meterStop": 8_000,
            "timestamp": ts(start + timedelta(minutes=15)),
        }
        await charger.ok("StopTransaction", {**stop, "idTag": tag})

        async def receipt() -> dict[str, Any]:
            for _ in range(200):
                status = (await browser.get(status_url)).json()
                if status.get("receipt_url") and status["payment_status"] == "captured":
                    return dict(status)
                await asyncio.sleep(0.1)
            raise AssertionError(f"no receipt: {status}")

        status = await receipt()
        cdr = server.api.get("/api/v1/cdrs", params={"session_id": status["session_id"]}).json()["items"][0]
        assert Decimal(status["paid"]) == paid(cdr)
        pdf = await browser.get(status["receipt_url"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert balanced(server)


async def test_a_declined_card_on_the_pay_page_starts_nothing(shared_live_server: LiveServer) -> None:
    server = shared_live_server
    cp, _, _ = setup(server, "wallet")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as browser:
        page = await browser.get(f"/pay/{cp}-1")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"csrf_token": csrf.group(1), "card_number": "4000000000000002"}
        declined = await browser.post(f"/pay/{cp}-1/start", data=form)
    assert declined.status_code == 402 and "declined" in declined.text

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as browser:
        unknown = await browser.get("/pay/NO-SUCH-CHARGER-1")
    assert unknown.status_code == 404 and "Charging point not found" in unknown.text


async def test_a_wallet_that_runs_dry_stops_the_session_remotely(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    server = shared_live_server
    cp, tag, driver = setup(server, "wallet")
    top_up = {"amount": "6.00", "currency": "EUR"}
    server.api.post(
        f"/api/v1/drivers/{driver}/wallet/top-ups", json=top_up, headers={"Idempotency-Key": random_id("k")}
    ).raise_for_status()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
        await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        begun = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
        )
        charger.auto_answer["RemoteStopTransaction"] = {"status": "Accepted"}
        charger.auto_answer["DataTransfer"] = {"status": "Accepted"}
        sample = {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": "15000"}
        meter = {
            "connectorId": 1,
            "transactionId": begun["transactionId"],
            "meterValue": [{"timestamp": ts(start + timedelta(minutes=20)), "sampledValue": [sample]}],
        }
        await charger.ok("MeterValues", meter)
        while not any(c[2] == "RemoteStopTransaction" for c in charger.received_calls):
            await charger.serve_calls(timeout=15)
        (stop_call,) = [c for c in charger.received_calls if c[2] == "RemoteStopTransaction"]
        assert stop_call[3] == {"transactionId": begun["transactionId"]}
        stop = {
            "transactionId": begun["transactionId"],
            "meterStop": 15_000,
            "timestamp": ts(start + timedelta(minutes=21)),
        }
        await charger.ok("StopTransaction", stop)
    await asyncio.to_thread(server.events_consumed)
    wallet = server.api.get(f"/api/v1/drivers/{driver}/wallet").json()
    assert Decimal(wallet["balance"]) == 0  # the shortfall went to the driver's debt, never below zero
    assert balanced(server)


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running_localstripe() as url:
        yield url


async def test_a_card_session_through_stripe_captures_the_cdr_total(
    start_live_server: Any, ocpp_client: Any, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLTBILL_PAYMENT_GATEWAY", "stripe")
    monkeypatch.setenv("VOLTBILL_STRIPE_API_KEY", "sk_test_voltbill")
    monkeypatch.setenv("VOLTBILL_STRIPE_API_BASE", localstripe)
    server: LiveServer = start_live_server()
    cp, tag, driver = setup(server, "card")
    client = stripe.StripeClient("sk_test_voltbill", base_addresses={"api": localstripe})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    pm = client.v1.payment_methods.create(params={"type": "card", "card": card})  # what Stripe.js hands over
    put = server.api.put(f"/api/v1/drivers/{driver}/card", json={"provider": "stripe", "payment_method_id": pm.id})
    assert put.status_code == 200, put.text
    cdr = await session(server, ocpp_client, cp, tag, 16_000)

    def captured() -> dict[str, Any] | None:
        (payment,) = server.api.get(f"/api/v1/drivers/{driver}/payments").json()["items"]
        return payment if payment["status"] == "captured" else None

    payment = await asyncio.to_thread(wait_for, captured)
    assert Decimal(payment["captured_amount"]) == paid(cdr)
    assert client.v1.payment_intents.retrieve(payment["provider_ref"]).status == "succeeded"
    rows = {r["account"]: r for r in server.api.get("/api/v1/ledger/trial-balance").json()["accounts"]}
    assert Decimal(rows["clearing:stripe"]["balance"]) == paid(cdr)
    (eur,) = server.api.get("/api/v1/ledger/card-reconciliation").json()["currencies"]
    assert (Decimal(eur["cdr_totals"]), Decimal(eur["captured"]), eur["reconciled"]) == (paid(cdr), paid(cdr), True)
    assert balanced(server)
