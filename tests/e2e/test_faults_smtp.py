"""SMTP is down while sessions are invoiced: the mail server behind the fault proxy refuses connections, resets them,
or answers 451 (try later). Invoices are issued and numbered anyway, their e-mails wait in the outbox (the operator
sees them), and each is delivered exactly once after the mail server is back."""

from __future__ import annotations

import asyncio
import email
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from conftest import LiveServer, free_port, random_id
from support.faultproxy import FaultProxy

PASSWORD = "a-long-charger-password-smtp-faults"
TARIFF = {
    "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.35", "vat": 21, "step_size": 1}]}],
}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The faults here are the mail server's; one store backend is enough (PostgreSQL outages: test_faults_database)."""
    return sqlite_url


class ShiftedClock:
    """The system clock plus an offset the test moves forward (lets a retry backoff pass without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self.offset += by


class Inbox:
    """An SMTP handler that accepts messages, or answers 451 while ``defer`` is set."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.defer = False
        self.deferred = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.defer:
            self.deferred += 1
            return "451 4.3.0 mail system temporarily unavailable, try later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def emails_queued(server: LiveServer) -> int:
    items = server.api.get("/api/v1/pending").json()["items"]
    return sum(i["count"] for i in items if i["kind"] == "emails_queued")


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_invoices_are_numbered_during_an_smtp_outage_and_mailed_exactly_once_after_it(
    start_live_server: Any, ocpp_client: Any
) -> None:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    faults: Counter[str] = Counter()
    clock = ShiftedClock()
    try:
        with FaultProxy(("127.0.0.1", smtp.port)) as proxy:
            server: LiveServer = start_live_server(smtp_url=f"smtp://127.0.0.1:{proxy.port}", clock=clock)
            server.app.state.invoicing_worker.interval_s = 0.2
            tariff = random_id("T")
            server.put_tariff(tariff, TARIFF)
            numbers: list[str] = []
            for kind, energy_wh in (("refuse", 4_000), ("reset", 9_000), ("451", 13_000)):
                cp, tag, driver = random_id("CP"), random_id("TAG"), random_id("drv")
                server.register_charger(cp, PASSWORD, tariff_id=tariff)
                server.register_driver(driver, tag, payment_method="wallet")
                top_up = {"amount": "50.00", "currency": "EUR"}
                server.api.post(
                    f"/api/v1/drivers/{driver}/wallet/top-ups", json=top_up, headers={"Idempotency-Key": random_id("k")}
                ).raise_for_status()
                if kind == "451":
                    inbox.defer = True
                else:
                    proxy.mode = kind
                start = clock.now().replace(microsecond=0) - timedelta(hours=1)
                async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
                    await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
                    begun = await charger.ok(
                        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
                    )
                    stop = {
                        "transactionId": begun["transactionId"],
                        "meterStop": energy_wh,
                        "timestamp": ts(start + timedelta(minutes=40)),
                    }
                    await charger.ok("StopTransaction", stop)

                def issued(driver: str = driver) -> list[dict[str, Any]]:
                    return list(server.api.get("/api/v1/invoices", params={"driver_id": driver}).json()["items"])

                (invoice,) = await asyncio.to_thread(wait_for, issued, 30, "the invoice")
                assert invoice["status"] == "issued" and invoice["number"]
                numbers.append(invoice["number"])

                def failed_once(kind: str = kind) -> bool:
                    if kind == "451":
                        return inbox.deferred > 0
                    if kind == "reset":
                        return proxy.counts["connections reset"] > 0
                    row = server.api.get("/api/v1/pending").json()["items"]
                    return any(i["kind"] == "emails_queued" and i["count"] for i in row) and _attempted(server)

                await asyncio.to_thread(wait_for, failed_once, 30, f"a failed send ({kind})")
                assert emails_queued(server) == 1
                if kind == "refuse":  # the operator's command line shows the same queue
                    assert status_cli(server.app.state.settings.database_url)["emails_queued"] == 1
                faults[f"SMTP {kind}"] += (
                    inbox.deferred if kind == "451" else proxy.counts["connections reset"] if kind == "reset" else 1
                )
                assert not any(invoice["number"] in (m["Subject"] or "") for m in inbox.messages)

                inbox.defer, proxy.mode = False, "pass"
                inbox.deferred, proxy.counts["connections reset"] = 0, 0
                clock.advance(timedelta(hours=1))  # the retry backoff (at most an hour) has passed
                await asyncio.to_thread(
                    wait_for,
                    lambda number=invoice["number"]: any(number in (m["Subject"] or "") for m in inbox.messages),
                    30,
                    "the e-mail after the outage",
                )
                await asyncio.to_thread(wait_for, lambda: emails_queued(server) == 0, 10, "an empty outbox")

            rounds = server.app.state.invoicing_worker
            await asyncio.sleep(rounds.interval_s * 5)  # a few more worker rounds: nothing is sent again
            subjects = [m["Subject"] or "" for m in inbox.messages]
            assert [sum(n in s for s in subjects) for n in numbers] == [1, 1, 1]
            assert len({m["Message-ID"] for m in inbox.messages}) == len(inbox.messages) == 3
            sequences = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
            assert sequences == list(range(sequences[0], sequences[0] + 3))  # numbered without gaps
            print(f"\nfaults injected: {dict(faults)}; e-mails lost: 0, sent twice: 0")
    finally:
        smtp.stop()


def _attempted(server: LiveServer) -> bool:
    """The outbox entry has a recorded failure (a refused connection leaves no trace at the proxy)."""
    from sqlalchemy import select

    from voltbill.adapters.store.tables.invoices import InvoiceOutboxRow

    with server.app.state.db.uow() as uow:
        return any(e is not None for e in uow.session.scalars(select(InvoiceOutboxRow.last_error)))


def status_cli(database_url: str) -> dict[str, int]:
    """``voltbill status --json`` as an operator runs it: counts per kind."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VOLTBILL_")},
        "VOLTBILL_DATABASE_URL": database_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "voltbill", "status", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return {item["kind"]: item["count"] for item in json.loads(done.stdout)["items"]}
