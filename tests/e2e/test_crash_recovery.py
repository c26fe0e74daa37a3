"""kill -9 of the server at random moments while simulated chargers run sessions and their payments settle, on SQLite
and PostgreSQL. The drivers pay by prepaid wallet, by card on file (a Stripe-compatible server that honours
idempotency keys, ``support/stripe_fake.py``) or by monthly invoice; invoices are e-mailed to an SMTP server in the
test. After the restarts, the chargers' reconnects and their replays of queued messages (same message ids):

- every session is stored once, completed, and priced once (one CDR);
- every CDR is settled once: a wallet is debited its total once, a card is captured its total once at the provider,
  an invoice driver's total waits on account;
- the ledger's trial balance is balanced;
- invoice numbers have no gaps and no duplicates, and each wallet or card session is on exactly one invoice;
- each invoice is e-mailed under one Message-ID; only a message in flight at a kill may go out again, with the same
  Message-ID (SMTP cannot tell a crash after the server's 250 from one before it).

``VOLTBILL_CRASH_SEED`` picks other kill moments; ``benchmarks/crashes.py`` runs this test with many seeds.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import stripe
from aiosmtpd.controller import Controller

from conftest import API_KEY, free_port
from localstripe_server import running_localstripe
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line
from voltbill.simulator.config import ChargerSpec, SimulationConfig
from voltbill.simulator.register import WALLET_TOP_UP, driver_id_of, register
from voltbill.simulator.runner import build_chargers, run_simulation

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_crash_recovery"
KILLS = 4
METHODS = ("wallet", "card", "invoice")  # the driver of the i-th charger pays by METHODS[i % 3]
TOP_UP = Decimal(WALLET_TOP_UP["amount"])


class ServerProcess:
    """``voltbill serve`` as a child process that can be killed with SIGKILL and started again on the same port."""

    def __init__(self, database_url: str, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VOLTBILL_")},
            "VOLTBILL_DATABASE_URL": database_url,
            "VOLTBILL_API_KEY": API_KEY,
            **{f"VOLTBILL_{name.upper()}": value for name, value in settings.items()},
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "voltbill", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=out,
                cwd=ROOT,
            )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{self.base_url}/healthz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                await asyncio.sleep(0.1)
        raise AssertionError("the server did not come up within 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Inbox:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def stripe_card(stripe_client: stripe.StripeClient) -> Callable[[str], tuple[str, str]]:
    """A new test card at the Stripe-compatible server for each card driver ``register`` sets up."""

    def card(_driver_id: str) -> tuple[str, str]:
        visa = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        return "stripe", stripe_client.v1.payment_methods.create(params={"type": "card", "card": visa}).id

    return card


async def all_items(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await api.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})).json()
        items += page["items"]
        if not (cursor := page.get("next_cursor")):
            return items


async def settled_and_mailed(api: httpx.AsyncClient, billed_now: int, timeout_s: float = 120) -> None:
    """Wait until no capture, settlement or e-mail is pending and every wallet or card session has its invoice (a
    payment or e-mail claimed by a killed server waits for its lease, ten Stripe / eight SMTP timeouts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = {i["kind"]: i["count"] for i in (await api.get("/api/v1/pending")).json()["items"]}
        waiting = {
            k: pending.get(k, 0) for k in ("captures_pending", "cdrs_unsettled", "cdrs_unpriced", "emails_queued")
        }
        invoiced = len(await all_items(api, "/api/v1/invoices"))
        if not any(waiting.values()) and invoiced >= billed_now:
            return
        assert time.monotonic() < deadline, f"still pending: {waiting}, {invoiced} of {billed_now} invoices"
        await asyncio.sleep(0.5)


async def test_a_crashing_server_bills_every_session_once_and_mails_every_invoice_once(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("VOLTBILL_CRASH_SEED", "20261206")))
    faults: Counter[str] = Counter()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with running_localstripe() as stripe_url:
            server = ServerProcess(
                database_url,
                tmp_path / "server.log",
                payment_gateway="stripe",
                stripe_api_key=STRIPE_KEY,
                stripe_api_base=stripe_url,
                stripe_timeout_s="1",  # a claimed capture's lease: 10 s
                payments_poll_s="0.5",
                smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                smtp_timeout_s="1",  # a claimed e-mail's lease: 8 s
            )
            try:
                await run_with_kills(server, stripe_url, rng, faults)
                await check_books(server, stripe_url, inbox, faults)
            finally:
                server.stop()
    finally:
        smtp.stop()


def fleet() -> tuple[ChargerSpec, ...]:
    return build_chargers(6, prefix="CR-", protocol="mixed", kind="mixed", password="crash-{id}-0123456789")


async def run_with_kills(server: ServerProcess, stripe_url: str, rng: random.Random, faults: Counter[str]) -> None:
    """Run the chargers' sessions while the server is killed ``KILLS`` times and restarted."""
    specs, sessions = fleet(), 3
    config = SimulationConfig(
        url=f"ws://127.0.0.1:{server.port}/ocpp",
        chargers=specs,
        sessions=sessions,
        speed=900,
        meter_interval_s=120,
        max_session_s=45 * 60,
        idle_s=5 * 60,
        gap_s=60,
        timeout_s=20,
        seed=5,
        duration_s=150,
        # outages stretch the run on the wall clock: start simulated time early enough never to catch up with it
        start=datetime.now(UTC) - timedelta(days=3),
    )
    await server.start()
    stripe_client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stripe_url})
    await register(server.base_url, API_KEY, specs, payment_methods=METHODS, card=stripe_card(stripe_client))
    simulation = asyncio.create_task(run_simulation(config))
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        server.kill()
        faults["kill -9 of the server"] += 1
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        await server.start()
    summary, _ = await simulation
    faults["CALL whose answer was lost, resent"] = sum(
        n for kind, n in summary["errors_by_kind"].items() if kind.startswith(("ConnectionError", "TimeoutError"))
    )
    assert summary["sessions_completed"] == len(specs) * sessions, summary["errors_by_kind"]


async def check_books(server: ServerProcess, stripe_url: str, inbox: Inbox, faults: Counter[str]) -> None:
    """Sessions, CDRs, payments at voltbill and at the provider, the ledger, invoice numbers and e-mails."""
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as api:
        sessions = await all_items(api, "/api/v1/sessions")
        cdrs = {c["id"]: c for c in await all_items(api, "/api/v1/cdrs")}
        driver = {s["cdr_id"]: s["driver_id"] for s in sessions}
        method = {driver_id_of(spec): METHODS[i % len(METHODS)] for i, spec in enumerate(fleet())}
        assert len(sessions) == 18 and {s["status"] for s in sessions} == {"completed"}, sessions
        for session in sessions:  # priced once: one CDR, the session's
            assert [c["id"] for c in cdrs.values() if c["session_id"] == session["id"]] == [session["cdr_id"]]
        assert all(Decimal(str(c["total_energy"])) > 0 for c in cdrs.values())
        billed = [i for i in cdrs if method[driver[i]] in ("wallet", "card")]
        await settled_and_mailed(api, len(billed))

        gross = {
            i: invoice_line(Money(Decimal(str(c["total_cost"]["incl_vat"])), "EUR")).amount for i, c in cdrs.items()
        }
        payments = [p for p in await all_items(api, "/api/v1/payments") if p["cdr_id"]]
        by_cdr: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for payment in payments:
            by_cdr[payment["cdr_id"]].append(payment)
        assert set(by_cdr) == set(cdrs)  # every CDR settled, and nothing else
        for cdr_id in cdrs:
            paid = by_cdr[cdr_id]
            expected = {"wallet": {"paid"}, "card": {"captured"}, "invoice": {"on_account"}}[method[driver[cdr_id]]]
            assert {p["status"] for p in paid} == expected, paid
            owed = sum((Decimal(p["amount"]) for p in paid), Decimal(0))
            assert owed == gross[cdr_id], (cdr_id, paid)
        for wallet_driver in (d for d, m in method.items() if m == "wallet"):  # debited once
            spent = sum((gross[i] for i, d in driver.items() if d == wallet_driver), Decimal(0))
            wallet = (await api.get(f"/api/v1/drivers/{wallet_driver}/wallet")).json()
            assert Decimal(wallet["balance"]) == TOP_UP - spent, (wallet_driver, wallet, spent)

        # captured once at the provider: what it captured equals voltbill's card payments, charge by charge
        card_payments = [p for p in payments if p["payment_method"] == "card"]
        stripe_client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stripe_url})
        charges = [c.to_dict() for c in stripe_client.v1.charges.list(params={"limit": 100}).data]
        assert len(charges) < 100
        captured = Counter({c["payment_intent"]: c["amount"] - c["amount_refunded"] for c in charges if c["captured"]})
        assert captured == Counter({p["provider_ref"]: int(Decimal(p["captured_amount"]) * 100) for p in card_payments})
        faults["card hold left uncaptured (hold recorded by no payment)"] = sum(
            1 for c in charges if not c["captured"] and c["amount_refunded"] < c["amount"]
        )

        balance = (await api.get("/api/v1/ledger/trial-balance")).json()
        assert balance["balanced"], balance

        invoices = await all_items(api, "/api/v1/invoices")
        numbers = [i["number"] for i in invoices]
        series: dict[str, list[int]] = defaultdict(list)
        for number in numbers:
            prefix, sequence = number.rsplit("-", 1)
            series[prefix].append(int(sequence))
        for prefix, sequences in series.items():  # no gaps, no duplicates
            assert sorted(sequences) == list(range(1, len(sequences) + 1)), (prefix, sorted(sequences))
        on_invoices = Counter(cdr_id for i in invoices for cdr_id in i["cdr_ids"])
        assert on_invoices == Counter(dict.fromkeys(billed, 1)), on_invoices

        message_ids: dict[str, set[str]] = defaultdict(set)
        deliveries: Counter[str] = Counter()
        for message in inbox.messages:
            (number,) = [n for n in numbers if n in (message["Subject"] or "")]
            message_ids[number].add(message["Message-ID"])
            deliveries[number] += 1
        assert set(message_ids) == set(numbers)  # each invoice mailed
        assert all(len(ids) == 1 for ids in message_ids.values()), message_ids  # as one message
        again = sum(n - 1 for n in deliveries.values())
        assert again <= faults["kill -9 of the server"], deliveries  # only what was in flight at a kill
        faults["e-mail in flight at a kill, sent again (same Message-ID)"] = again
        report = {"sessions": len(sessions), "invoices": len(invoices), "emails": len(inbox.messages), **faults}
        print(f"\ncrash-report {json.dumps(report)}")  # read by benchmarks/crashes.py
