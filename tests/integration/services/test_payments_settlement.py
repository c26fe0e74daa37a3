"""Settlement, wallets, card payments with retries, on SQLite and PostgreSQL, through the sandbox gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from payments_db import migrated_database
from voltbill.adapters.payments.sandbox import CHARGE_FAILS, SandboxGateway, tokenize_card
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import account_balance, trial_balance_rows
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.services.card_holds import preauthorise_session
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import process_due_payments, settle_priced_session
from voltbill.services.wallet import top_up_wallet, wallet_start_refusal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database (copied from a per-session template: migrating a database per test costs seconds)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def ctx(database_url: str) -> Iterator[PaymentsContext]:
    db = Database(database_url)
    config = PaymentSettings(payment_gateway="sandbox", capture_max_attempts=3, capture_retry_base_s=60)
    yield PaymentsContext(db, SandboxGateway(), EventBus(), FixedClock(T0), config)
    db.dispose()


def priced(session_id: str, driver_id: str, excl: str, incl: str | None) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "cdr_id": f"cdr-{session_id}",
        "driver_id": driver_id,
        "charge_point_id": "CP1",
        "currency": "EUR",
        "total_cost": {"excl_vat": excl, "incl_vat": incl},
        "end_date_time": T0.isoformat(),
    }


def balance(ctx: PaymentsContext, account: str) -> Decimal:
    with ctx.db.uow() as uow:
        return account_balance(uow, account, "EUR")


def balanced(ctx: PaymentsContext) -> bool:
    with ctx.db.uow() as uow:
        return trial_balance(trial_balance_rows(uow)).balanced


def save_card(ctx: PaymentsContext, driver_id: str, number: str = "4242424242424242") -> None:
    with ctx.db.uow() as uow:
        uow.session.add(
            PaymentCard(
                driver_id=driver_id,
                provider="sandbox",
                customer_id=f"cus_{driver_id}",
                payment_method_id=tokenize_card(number),
                updated_at=T0,
            )
        )
        uow.commit()


def payment(ctx: PaymentsContext, **where: str) -> Payment:
    with ctx.db.uow() as uow:
        row = uow.session.execute(select(Payment).filter_by(**where)).scalar_one()
        uow.session.expunge(row)
        return row


def test_a_replayed_top_up_answers_the_first_result_and_credits_once(ctx: PaymentsContext) -> None:
    first = top_up_wallet(ctx, "drv", Money.of("50.00", "EUR"), "req-1")
    again = top_up_wallet(ctx, "drv", Money.of("50.00", "EUR"), "req-1")
    top_up_wallet(ctx, "drv", Money.of("10.00", "EUR"), "req-2")
    assert first == again
    assert first["balance"] == "50.00"
    assert balance(ctx, "wallet:drv") == Decimal("60.00")
    assert balanced(ctx)


def test_a_wallet_session_debits_the_wallet_and_splits_revenue_and_vat(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("20.00", "EUR"), "req-1")
    result = settle_priced_session(ctx, priced("s1", "drv", "10.0000", "11.9000"), "wallet")
    replay = settle_priced_session(ctx, priced("s1", "drv", "10.0000", "11.9000"), "wallet")
    assert result.created and not replay.created
    assert result.event()["amount"] == "11.90"
    assert balance(ctx, "wallet:drv") == Decimal("8.10")
    assert balance(ctx, "revenue") == Decimal("10.00")
    assert balance(ctx, "vat_payable") == Decimal("1.90")
    assert payment(ctx, session_id="s1").status == "paid"
    assert balanced(ctx)


def test_a_wallet_never_goes_negative_the_shortfall_becomes_debt(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("5.00", "EUR"), "req-1")
    settle_priced_session(ctx, priced("s1", "drv", "6.0000", "7.1400"), "wallet")
    assert balance(ctx, "wallet:drv") == 0
    assert balance(ctx, "debt:drv") == Decimal("2.14")
    assert balanced(ctx)


def test_a_wallet_below_the_minimum_cannot_start(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("4.99", "EUR"), "req-1")
    with ctx.db.uow() as uow:
        assert "below the minimum" in (wallet_start_refusal(ctx, uow, "drv") or "")
    top_up_wallet(ctx, "drv", Money.of("0.01", "EUR"), "req-2")
    with ctx.db.uow() as uow:
        assert wallet_start_refusal(ctx, uow, "drv") is None


def test_a_card_session_captures_the_exact_total_on_the_hold(ctx: PaymentsContext) -> None:
    save_card(ctx, "drv")
    held = preauthorise_session(ctx, "s1", "drv", "TAG1", "EUR")
    assert held.status == "authorised" and held.amount == Decimal("50.00")
    settle_priced_session(ctx, priced("s1", "drv", "10.1234", "12.0468"), "card")
    assert process_due_payments(ctx) == 1
    captured = payment(ctx, session_id="s1")
    assert (captured.status, captured.captured_amount) == ("captured", Decimal("12.05"))
    gateway = ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    assert [c[2][1] for c in gateway.calls if c[0] == "capture"] == [Money.of("12.05", "EUR")]
    assert balance(ctx, "clearing:sandbox") == Decimal("12.05")
    assert balance(ctx, "receivable:drv") == 0
    assert balanced(ctx)


def test_a_total_above_the_hold_captures_the_hold_and_charges_the_rest(ctx: PaymentsContext) -> None:
    save_card(ctx, "drv")
    preauthorise_session(ctx, "s1", "drv", None, "EUR")
    settle_priced_session(ctx, priced("s1", "drv", "60.0000", "71.4000"), "card")
    assert process_due_payments(ctx) == 2
    assert balance(ctx, "clearing:sandbox") == Decimal("71.40")
    assert payment(ctx, kind="session_rest").captured_amount == Decimal("21.40")


def test_a_free_session_releases_the_hold(ctx: PaymentsContext) -> None:
    save_card(ctx, "drv")
    preauthorise_session(ctx, "s1", "drv", None, "EUR")
    settle_priced_session(ctx, priced("s1", "drv", "0", "0"), "card")
    process_due_payments(ctx)
    assert payment(ctx, session_id="s1").status == "cancelled"
    assert isinstance(ctx.gateway, SandboxGateway)
    assert [c[0] for c in ctx.gateway.calls][-1] == "cancel"


def test_a_declined_card_is_retried_with_backoff_then_booked_as_debt(ctx: PaymentsContext) -> None:
    save_card(ctx, "drv", CHARGE_FAILS)
    assert preauthorise_session(ctx, "s1", "drv", None, "EUR").status == "declined"
    settle_priced_session(ctx, priced("s1", "drv", "10.0000", "11.9000"), "card")
    clock = ctx.clock
    assert isinstance(clock, FixedClock)
    process_due_payments(ctx)
    row = payment(ctx, session_id="s1")
    assert (row.status, row.attempts, row.next_attempt_at) == ("capture_pending", 1, T0 + timedelta(seconds=60))
    assert process_due_payments(ctx) == 0  # not due yet
    clock.at = T0 + timedelta(seconds=60)
    process_due_payments(ctx)
    assert payment(ctx, session_id="s1").next_attempt_at == clock.at + timedelta(seconds=120)
    clock.at += timedelta(seconds=120)
    process_due_payments(ctx)
    row = payment(ctx, session_id="s1")
    assert (row.status, row.attempts) == ("failed", 3)
    assert balance(ctx, "debt:drv") == Decimal("11.90")
    assert balance(ctx, "receivable:drv") == 0
    assert balanced(ctx)


def test_an_invoice_driver_is_left_with_a_receivable(ctx: PaymentsContext) -> None:
    result = settle_priced_session(ctx, priced("s1", "drv", "10.0000", None), "invoice")
    assert result.status == "on_account"
    assert balance(ctx, "receivable:drv") == Decimal("10.00")
    assert balance(ctx, "vat_payable") == 0
    assert balanced(ctx)
