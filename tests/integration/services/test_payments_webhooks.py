"""Webhooks and automatic top-ups on SQLite and PostgreSQL, through the sandbox gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from payments_db import migrated_database
from voltbill.adapters.payments.sandbox import SandboxGateway, tokenize_card
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import account_balance
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.money import Money
from voltbill.services.card_holds import preauthorise_session
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payments import handle_webhook
from voltbill.services.settlement import settle_priced_session
from voltbill.services.wallet import auto_top_up, set_auto_top_up, top_up_wallet

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database (copied from a per-session template: migrating a database per test costs seconds)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def ctx(database_url: str) -> Iterator[PaymentsContext]:
    db = Database(database_url)
    yield PaymentsContext(db, SandboxGateway(), EventBus(), FixedClock(T0), PaymentSettings(payment_gateway="sandbox"))
    db.dispose()


def add_card(ctx: PaymentsContext, driver_id: str) -> None:
    with ctx.db.uow() as uow:
        uow.session.add(
            PaymentCard(
                driver_id=driver_id,
                provider="sandbox",
                customer_id="cus_1",
                payment_method_id=tokenize_card("4242424242424242"),
                updated_at=T0,
            )
        )
        uow.commit()


def deliver(ctx: PaymentsContext, event_id: str, kind: str, ref: str) -> str:
    gateway = ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    payload = json.dumps({"id": event_id, "type": kind, "object_id": ref}).encode()
    return str(handle_webhook(ctx, payload, gateway.sign(payload))["status"])


def pending_card_payment(ctx: PaymentsContext) -> Payment:
    add_card(ctx, "drv")
    preauthorise_session(ctx, "s1", "drv", None, "EUR")
    event = {
        "session_id": "s1",
        "cdr_id": "cdr1",
        "driver_id": "drv",
        "currency": "EUR",
        "total_cost": {"excl_vat": "10.0000", "incl_vat": "11.9000"},
    }
    settle_priced_session(ctx, event, "card")
    with ctx.db.uow() as uow:
        row = uow.session.query(Payment).one()
        uow.session.expunge(row)
        return row


def test_a_capture_confirmed_only_by_webhook_is_booked_once_even_when_delivered_twice(ctx: PaymentsContext) -> None:
    row = pending_card_payment(ctx)  # the capture's answer was lost: the worker has not recorded it
    assert row.provider_ref is not None
    assert deliver(ctx, "evt_1", "payment_intent.succeeded", row.provider_ref) == "processed"
    assert deliver(ctx, "evt_1", "payment_intent.succeeded", row.provider_ref) == "duplicate"
    assert deliver(ctx, "evt_2", "payment_intent.succeeded", row.provider_ref) == "processed"
    with ctx.db.uow() as uow:
        assert uow.session.get(Payment, row.id).status == "captured"  # type: ignore[union-attr]
        assert account_balance(uow, "clearing:sandbox", "EUR") == Decimal("11.90")


def test_a_late_failure_event_does_not_undo_a_capture(ctx: PaymentsContext) -> None:
    row = pending_card_payment(ctx)
    assert row.provider_ref is not None
    deliver(ctx, "evt_1", "payment_intent.succeeded", row.provider_ref)
    deliver(ctx, "evt_0", "payment_intent.payment_failed", row.provider_ref)
    with ctx.db.uow() as uow:
        assert uow.session.get(Payment, row.id).status == "captured"  # type: ignore[union-attr]


def test_a_wallet_below_its_threshold_is_topped_up_by_card_once_per_trigger(ctx: PaymentsContext) -> None:
    add_card(ctx, "drv")
    top_up_wallet(ctx, "drv", Money.of("10.00", "EUR"), "req")
    set_auto_top_up(ctx, "drv", Money.of("5.00", "EUR"), Money.of("25.00", "EUR"))
    event = {
        "session_id": "s1",
        "cdr_id": "cdr1",
        "driver_id": "drv",
        "currency": "EUR",
        "total_cost": {"excl_vat": "5.0000", "incl_vat": "5.9500"},
    }
    settle_priced_session(ctx, event, "wallet")
    first = auto_top_up(ctx, "drv", "cdr1")
    assert first is not None and first["balance"] == "29.05"
    assert auto_top_up(ctx, "drv", "cdr1") is None  # above the threshold now: nothing more to charge
    with ctx.db.uow() as uow:
        assert account_balance(uow, "clearing:sandbox", "EUR") == Decimal("25.00")
    assert isinstance(ctx.gateway, SandboxGateway)
    assert [c[0] for c in ctx.gateway.calls].count("charge") == 1
