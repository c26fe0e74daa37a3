"""The payment provider fails while cards are captured: localstripe behind the fault proxy resets connections, answers
nothing (timeouts), is replaced by a server answering HTTP 500, or applies the capture and its answer is lost.
Captures stay pending (the operator sees them), are not turned into debt however long the outage lasts, and complete
exactly once when Stripe is back; the books balance and what was captured equals the CDR totals."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from conftest import LiveServer, random_id
from localstripe_server import running_localstripe
from support.faultproxy import FaultProxy
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line

PASSWORD = "a-long-charger-password-faults"
TARIFF = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": "0.50", "vat": 19, "step_size": 1},
                {"type": "ENERGY", "price": "0.40", "vat": 19, "step_size": 1},
            ]
        }
    ],
}


class _Failing(BaseHTTPRequestHandler):
    """Stripe answering every request with HTTP 500 (``api_error``)."""

    hits = 0

    def _fail(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"type": "api_error", "message": "An unknown error occurred"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _fail

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The faults here are the provider's; one store backend is enough (PostgreSQL outages: test_faults_database)."""
    return sqlite_url


@pytest.fixture
def failing_stripe() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def payment_of(server: LiveServer, driver: str) -> dict[str, Any]:
    """The driver's one payment (settlement books it just after the stop is answered)."""
    items = wait_for(lambda: server.api.get(f"/api/v1/drivers/{driver}/payments").json()["items"], 10, "a payment")
    (payment,) = items
    return dict(payment)


def pending_count(server: LiveServer, kind: str) -> tuple[int, int | None]:
    (item,) = [i for i in server.api.get("/api/v1/pending").json()["items"] if i["kind"] == kind]
    return int(item["count"]), item["oldest_age_s"]


async def test_captures_during_a_stripe_outage_stay_pending_and_complete_exactly_once_when_it_returns(
    start_live_server: Any, ocpp_client: Any, failing_stripe: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults: Counter[str] = Counter()
    with running_localstripe() as stripe_url:
        localstripe = (urlsplit(stripe_url).hostname or "", int(urlsplit(stripe_url).port or 0))
        with FaultProxy(localstripe) as proxy:
            for name, value in {
                "PAYMENT_GATEWAY": "stripe",
                "STRIPE_API_KEY": "sk_test_voltbill",
                "STRIPE_API_BASE": f"http://127.0.0.1:{proxy.port}",
                "STRIPE_TIMEOUT_S": "1",
                "CAPTURE_RETRY_BASE_S": "1",
                "CAPTURE_MAX_ATTEMPTS": "1",
                "PAYMENTS_POLL_S": "0.3",
            }.items():
                monkeypatch.setenv(f"VOLTBILL_{name}", value)
            server: LiveServer = start_live_server()
            client = stripe.StripeClient("sk_test_voltbill", base_addresses={"api": stripe_url})
            tariff = random_id("T")
            server.put_tariff(tariff, TARIFF)
            paid: dict[str, Decimal] = {}
            for kind, energy_wh in (
                ("reset", 11_000),
                ("blackhole", 17_000),
                ("http500", 23_000),
                ("drop_replies", 29_000),
            ):
                cp, tag, driver = random_id("CP"), random_id("TAG"), random_id("drv")
                server.register_charger(cp, PASSWORD, tariff_id=tariff)
                server.register_driver(driver, tag, payment_method="card")
                card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
                pm = client.v1.payment_methods.create(params={"type": "card", "card": card})
                put = {"provider": "stripe", "payment_method_id": pm.id}
                server.api.put(f"/api/v1/drivers/{driver}/card", json=put).raise_for_status()
                start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
                async with ocpp_client(server, cp, PASSWORD, "ocpp1.6") as charger:
                    await charger.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "AC22"})
                    begun = await charger.ok(
                        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ts(start)}
                    )
                    await asyncio.to_thread(
                        wait_for, lambda d=driver: payment_of(server, d)["status"] == "authorised", what="the hold"
                    )
                    # the outage starts; the session ends and its capture is due
                    if kind == "http500":
                        proxy.target = failing_stripe
                        before = _Failing.hits
                    else:
                        proxy.mode = kind
                        before = sum(proxy.counts.values())
                    proxy.cut()
                    stop = {"transactionId": begun["transactionId"], "meterStop": energy_wh, "timestamp": ts(start)}
                    stop["timestamp"] = ts(start + timedelta(minutes=30))
                    await charger.ok("StopTransaction", stop)

                def injected(kind: str = kind, before: int = before) -> int:
                    now = _Failing.hits if kind == "http500" else sum(proxy.counts.values())
                    return now - before

                # each failed worker round is 3 tries of the SDK; with CAPTURE_MAX_ATTEMPTS=1 a single round counted
                # as an attempt would book the payment as debt. Blackholed tries take the 1 s timeout: one round.
                needed = 3 if kind in ("blackhole", "drop_replies") else 2 * 3
                await asyncio.to_thread(
                    wait_for,
                    lambda n=needed, d=driver: injected() >= n and payment_of(server, d)["last_error"],
                    45,
                    f"{kind} faults",
                )
                during = payment_of(server, driver)
                assert during["status"] == "capture_pending", during
                assert during["attempts"] == 0 and "payment_gateway_unavailable" in (during["last_error"] or "")
                count, age = pending_count(server, "captures_pending")
                assert count == 1 and age is not None
                assert [
                    p["id"] for p in server.api.get("/api/v1/payments", params={"status": "open"}).json()["items"]
                ] == [during["id"]]
                faults[f"Stripe {kind}"] += injected()

                proxy.target, proxy.mode = localstripe, "pass"
                captured = await asyncio.to_thread(
                    wait_for,
                    lambda driver=driver: (p := payment_of(server, driver))["status"] == "captured" and p,
                    30,
                    "the capture after the outage",
                )
                (cdr,) = server.api.get("/api/v1/cdrs", params={"session_id": captured["session_id"]}).json()["items"]
                total = invoice_line(Money(Decimal(str(cdr["total_cost"]["incl_vat"])), "EUR")).amount
                assert Decimal(captured["captured_amount"]) == total
                intent = client.v1.payment_intents.retrieve(captured["provider_ref"])
                charges = intent.to_dict()["charges"]["data"]
                assert intent.status == "succeeded"
                assert [c["amount"] - c["amount_refunded"] for c in charges if c["captured"]] == [int(total * 100)]
                paid[driver] = total

            assert pending_count(server, "captures_pending")[0] == 0
            assert pending_count(server, "payments_to_follow_up")[0] == 0
            balance = server.api.get("/api/v1/ledger/trial-balance").json()
            assert balance["balanced"]
            rows = {r["account"]: r for r in balance["accounts"]}
            assert Decimal(rows["clearing:stripe"]["balance"]) == sum(paid.values())
            assert not any(r["account"].startswith("debt:") and Decimal(r["balance"]) for r in balance["accounts"])
            print(f"\nfaults injected: {dict(faults)}; captures lost: 0, captured twice: 0")
