"""Charge, pay, invoice: a real OCPP 1.6 session against a real server ends in an invoice (wallet driver, issued on
``session.settled`` and e-mailed by the server's worker) or on a monthly statement (post-paid driver)."""

from __future__ import annotations

import asyncio
import email
import io
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from typing import Any

import facturx
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from conftest import LiveServer, free_port, random_id
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line
from voltbill.services.invoice_runs import run_monthly

PASSWORD = "a-long-charger-password-inv"
TARIFF = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": "0.35", "vat": 21, "step_size": 1},
                {"type": "ENERGY", "price": "0.3117", "vat": 21, "step_size": 1},
                {"type": "TIME", "price": "1.20", "vat": 21, "step_size": 60},
            ]
        }
    ],
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def charge(server: LiveServer, ocpp_client: Any, cp: str, tag: str, start: datetime, wh: int) -> None:
    async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
        await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
        begun = await charger.ok(
            "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
        )
        stop = {
            "transactionId": begun["transactionId"],
            "meterStop": wh,
            "timestamp": ts(start + timedelta(minutes=47)),
        }
        await charger.ok("StopTransaction", {**stop, "idTag": tag})


def wait_for(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def documents_of(server: LiveServer, driver: str) -> list[dict[str, Any]]:
    """The driver's invoices and receipts, once issued (just after the stop is answered)."""
    return wait_for(lambda: server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"], 10)


async def test_a_wallet_session_is_invoiced_at_once_and_mailed_by_the_server(
    start_live_server: Any, ocpp_client: Any
) -> None:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        server: LiveServer = start_live_server(smtp_url=f"smtp://127.0.0.1:{smtp.port}")
        server.app.state.invoicing_worker.interval_s = 0.5
        cp, tag, driver = random_id("CP"), random_id("TAG"), random_id("drv")
        tariff_id = random_id("T")
        server.put_tariff(tariff_id, TARIFF)
        server.register_charger(cp, PASSWORD, tariff_id=tariff_id)
        server.register_driver(driver, tag, payment_method="wallet")
        top_up = {"amount": "50.00", "currency": "EUR"}
        server.api.post(
            f"/api/v1/drivers/{driver}/wallet/top-ups", json=top_up, headers={"Idempotency-Key": random_id("k")}
        ).raise_for_status()

        await charge(server, ocpp_client, cp, tag, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1), 7333)

        (invoice,) = documents_of(server, driver)
        cdr = server.api.get(f"/api/v1/cdrs/{invoice['cdr_ids'][0]}").json()
        expected = invoice_line(Money(Decimal(str(cdr["total_cost"]["incl_vat"])), "EUR")).amount
        assert (invoice["kind"], invoice["status"], Decimal(invoice["totals"]["incl_vat"])) == (
            "invoice",
            "issued",
            expected,
        )
        assert {line["dimension"] for line in invoice["lines"]} == {"FLAT", "ENERGY", "TIME"}
        assert invoice["sessions"][0]["time_zone"] == "Europe/Amsterdam"

        await asyncio.to_thread(wait_for, lambda: len(inbox.messages) == 1)
        (message,) = inbox.messages
        assert message["To"] == f"{driver}@example.org" and invoice["number"] in message["Subject"]
        (attachment,) = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
        _, xml = facturx.get_xml_from_pdf(attachment.get_payload(decode=True), check_xsd=False)
        assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
        pdf = server.api.get(f"/api/v1/invoices/{invoice['number']}.pdf")
        assert pdf.content == attachment.get_payload(decode=True)  # the stored PDF is the one that was sent
        await asyncio.sleep(1.5)
        assert len(inbox.messages) == 1  # the worker sends each invoice once
    finally:
        smtp.stop()


async def test_post_paid_sessions_wait_for_the_monthly_statement(live_server: LiveServer, ocpp_client: Any) -> None:
    live_server.app.state.invoicing_worker.stop()
    cp, tag, driver = random_id("CP"), random_id("TAG"), random_id("drv")
    tariff_id = random_id("T")
    live_server.put_tariff(tariff_id, TARIFF)
    live_server.register_charger(cp, PASSWORD, tariff_id=tariff_id)
    live_server.register_driver(driver, tag, payment_method="invoice")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    await charge(live_server, ocpp_client, cp, tag, start, 5000)
    await charge(live_server, ocpp_client, cp, tag, start + timedelta(hours=1), 9000)
    live_server.events_consumed()
    assert live_server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"] == []

    db, clock = live_server.app.state.db, live_server.app.state.clock
    period = (start + timedelta(minutes=47)).strftime("%Y-%m")
    first = await asyncio.to_thread(run_monthly, db, period, clock=clock)
    again = await asyncio.to_thread(run_monthly, db, period, clock=clock)
    (statement,) = live_server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"]
    assert (statement["kind"], statement["period"], len(statement["cdr_ids"])) == ("statement", period, 2)
    assert {s["charge_point_id"] for s in statement["sessions"]} == {cp}
    assert first.issued == [statement["number"]] and again.issued == []
    cdrs = [live_server.api.get(f"/api/v1/cdrs/{c}").json() for c in statement["cdr_ids"]]
    rounded = sum(invoice_line(Money(Decimal(str(c["total_cost"]["incl_vat"])), "EUR")).amount for c in cdrs)
    assert Decimal(statement["totals"]["incl_vat"]) == rounded


async def test_a_missed_settled_event_is_caught_up_by_the_server(
    start_live_server: Any, ocpp_client: Any, monkeypatch: Any
) -> None:
    from voltbill.services import invoicing

    issue_now = invoicing.on_session_settled

    def lost(*args: Any) -> None:
        raise ConnectionError("database went away while the event was handled")

    monkeypatch.setattr(invoicing, "on_session_settled", lost)
    server: LiveServer = start_live_server()
    server.app.state.invoicing_worker.stop()
    cp, tag, driver = random_id("CP"), random_id("TAG"), random_id("drv")
    tariff_id = random_id("T")
    server.put_tariff(tariff_id, TARIFF)
    server.register_charger(cp, PASSWORD, tariff_id=tariff_id)
    server.register_driver(driver, tag, payment_method="wallet")
    server.api.post(
        f"/api/v1/drivers/{driver}/wallet/top-ups",
        json={"amount": "20.00", "currency": "EUR"},
        headers={"Idempotency-Key": random_id("k")},
    ).raise_for_status()
    await charge(server, ocpp_client, cp, tag, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1), 4000)
    server.events_consumed()
    assert server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"] == []

    monkeypatch.setattr(invoicing, "on_session_settled", issue_now)
    worker = invoicing.InvoicingWorker(server.app.state, interval_s=0.2)
    worker.start()
    try:
        await asyncio.to_thread(
            wait_for, lambda: server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"] != []
        )
    finally:
        worker.stop()
    (invoice,) = server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"]
    assert invoice["number"].endswith("-000001")


async def test_an_ad_hoc_payment_gets_a_receipt_from_its_own_series(live_server: LiveServer, ocpp_client: Any) -> None:
    live_server.app.state.invoicing_worker.stop()
    cp, tag, driver = random_id("CP"), random_id("QR"), random_id("adhoc")
    tariff_id = random_id("T")
    live_server.put_tariff(tariff_id, TARIFF)
    live_server.register_charger(cp, PASSWORD, tariff_id=tariff_id)
    body = {"name": "Ad-hoc payer", "email": f"{driver}@example.org", "payment_method": "wallet", "locale": "de-DE"}
    live_server.api.put(f"/api/v1/drivers/{driver}", json=body).raise_for_status()
    live_server.api.put(f"/api/v1/drivers/{driver}/tokens/{tag}", json={"type": "AD_HOC_USER"}).raise_for_status()
    live_server.api.post(
        f"/api/v1/drivers/{driver}/wallet/top-ups",
        json={"amount": "30.00", "currency": "EUR"},
        headers={"Idempotency-Key": random_id("k")},
    ).raise_for_status()
    await charge(live_server, ocpp_client, cp, tag, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1), 3000)
    (receipt,) = documents_of(live_server, driver)
    assert receipt["kind"] == "receipt" and receipt["number"].startswith("VBR-")
    pdf = live_server.api.get(f"/api/v1/invoices/{receipt['number']}.pdf").content
    assert f"Quittung {receipt['number']}" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()  # driver's locale
