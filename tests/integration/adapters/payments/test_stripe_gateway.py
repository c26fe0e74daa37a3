"""The Stripe adapter against a real Stripe-compatible server (localstripe), through the official SDK.

localstripe does not report partial-capture and refund amounts exactly, so amounts are asserted on what voltbill
sent (a recording HTTP client) and on voltbill's ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe

from localstripe_server import running_localstripe
from voltbill.adapters.payments.port import InvalidWebhook, PaymentDeclined
from voltbill.adapters.payments.stripe_gateway import StripeGateway
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import account_balance
from voltbill.adapters.store.migrate import migrate
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.money import Money
from voltbill.services.card_holds import preauthorise_session
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payments import save_card
from voltbill.services.settlement import process_due_payments, settle_priced_session

SECRET = "whsec_test_voltbill"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """A localstripe server for the whole test session."""
    with running_localstripe() as url:
        yield url


class Recorder(stripe.RequestsClient):
    """Records every request voltbill sends: (method, path, form params, idempotency key)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, list[str]], str | None]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        params = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        path = "/" + url.split("/", 3)[3]
        self.sent.append((method, path, params, dict(headers or {}).get("Idempotency-Key")))
        return super().request(method, url, headers, post_data)

    def last(self, path_end: str) -> dict[str, list[str]]:
        return [p for m, path, p, _ in self.sent if path.split("?")[0].endswith(path_end)][-1]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(localstripe: str, recorder: Recorder) -> StripeGateway:
    return StripeGateway("sk_test_voltbill", api_base=localstripe, webhook_secret=SECRET, http_client=recorder)


def card(gateway: StripeGateway, number: str) -> str:
    """A PaymentMethod id, as Stripe.js would hand it to the page."""
    pm = gateway.client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return str(pm.id)


def key() -> str:
    return uuid.uuid4().hex


def test_a_hold_is_captured_for_less_than_authorised(gateway: StripeGateway, recorder: Recorder) -> None:
    customer = gateway.ensure_customer("drv-1", "ana@example.com", key=key())
    pm = gateway.attach_card(customer, card(gateway, "4242424242424242"), key=key())
    ref = gateway.authorize(customer, pm, Money.of("50.00", "EUR"), key=key())
    created = recorder.last("/v1/payment_intents")
    assert (created["amount"], created["currency"], created["capture_method"]) == (["5000"], ["eur"], ["manual"])
    assert gateway.client.v1.payment_intents.retrieve(ref).status == "requires_capture"
    gateway.capture(ref, Money.of("12.34", "EUR"), key=key())
    assert recorder.last(f"/{ref}/capture") == {"amount_to_capture": ["1234"]}
    assert gateway.client.v1.payment_intents.retrieve(ref).status == "succeeded"
    assert all(k for m, _, _, k in recorder.sent if m == "post")


def test_a_hold_can_be_cancelled(gateway: StripeGateway) -> None:
    customer = gateway.ensure_customer("drv-1", None, key=key())
    pm = gateway.attach_card(customer, card(gateway, "4242424242424242"), key=key())
    ref = gateway.authorize(customer, pm, Money.of("50.00", "EUR"), key=key())
    gateway.cancel(ref, key=key())
    assert gateway.client.v1.payment_intents.retrieve(ref).status == "canceled"


def test_a_card_declined_at_charge_time_raises_payment_declined(gateway: StripeGateway) -> None:
    customer = gateway.ensure_customer("drv-1", None, key=key())
    pm = gateway.attach_card(customer, card(gateway, "4000000000000341"), key=key())
    with pytest.raises(PaymentDeclined):
        gateway.authorize(customer, pm, Money.of("50.00", "EUR"), key=key())
    with pytest.raises(PaymentDeclined):
        gateway.charge(customer, pm, Money.of("5.00", "EUR"), key=key())


def test_a_refund_sends_the_amount_to_give_back(gateway: StripeGateway, recorder: Recorder) -> None:
    customer = gateway.ensure_customer("drv-1", None, key=key())
    pm = gateway.attach_card(customer, card(gateway, "4242424242424242"), key=key())
    ref = gateway.charge(customer, pm, Money.of("20.00", "EUR"), key=key())
    refund_id = gateway.refund(ref, Money.of("2.50", "EUR"), key=key())
    assert refund_id.startswith("re_")
    assert recorder.last("/v1/refunds") == {"payment_intent": [ref], "amount": ["250"]}


def _signed(payload: bytes, secret: str = SECRET) -> str:
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_a_webhook_with_a_valid_signature_is_parsed_and_a_forged_one_refused(gateway: StripeGateway) -> None:
    body = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_123", "object": "payment_intent", "amount": 1234}},
    }
    payload = json.dumps(body).encode()
    event = gateway.parse_webhook(payload, _signed(payload))
    assert (event.id, event.type, event.object_id) == ("evt_1", "payment_intent.succeeded", "pi_123")
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(payload, _signed(payload, "whsec_wrong"))
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(payload, None)


def test_a_card_session_through_stripe_captures_exactly_the_cdr_total(
    gateway: StripeGateway, recorder: Recorder, sqlite_url: str
) -> None:
    migrate(sqlite_url)
    db = Database(sqlite_url)
    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    ctx = PaymentsContext(db, gateway, EventBus(), clock, PaymentSettings(payment_gateway="stripe"))
    save_card(ctx, "drv-9", "ana@example.com", "stripe", card(gateway, "4242424242424242"))
    assert preauthorise_session(ctx, "s1", "drv-9", None, "EUR").status == "authorised"
    event = {
        "session_id": "s1",
        "cdr_id": "cdr-1",
        "driver_id": "drv-9",
        "currency": "EUR",
        "total_cost": {"excl_vat": "14.0336", "incl_vat": "16.7000"},
    }
    settle_priced_session(ctx, event, "card")
    process_due_payments(ctx)
    captures = [p for m, path, p, _ in recorder.sent if path.endswith("/capture")]
    assert captures == [{"amount_to_capture": ["1670"]}]
    with db.uow() as uow:
        assert account_balance(uow, "clearing:stripe", "EUR") == Decimal("16.70")
        assert account_balance(uow, "receivable:drv-9", "EUR") == 0
    db.dispose()
