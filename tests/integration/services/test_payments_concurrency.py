"""50 sessions of one wallet settling at the same time on PostgreSQL: exact balance, never negative."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from payments_db import migrated_database
from voltbill.adapters.payments.sandbox import SandboxGateway
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import account_balance, trial_balance_rows
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import settle_priced_session
from voltbill.services.wallet import top_up_wallet


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[PaymentsContext]:
    with migrated_database("postgresql", tmp_path) as url:
        yield from _ctx(url)


def _ctx(url: str) -> Iterator[PaymentsContext]:
    db = Database(url, pool_size=50, max_overflow=10)
    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    yield PaymentsContext(db, SandboxGateway(), EventBus(), clock, PaymentSettings(payment_gateway="sandbox"))
    db.dispose()


def settle(ctx: PaymentsContext, n: int) -> None:
    event = {
        "session_id": f"s{n}",
        "cdr_id": f"cdr{n}",
        "driver_id": "drv",
        "currency": "EUR",
        "total_cost": {"excl_vat": "1.0000", "incl_vat": "1.1900"},
    }
    settle_priced_session(ctx, event, "wallet")


def test_fifty_concurrent_wallet_settlements_leave_the_exact_balance(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("100.00", "EUR"), "req")
    with ThreadPoolExecutor(50) as pool:
        list(pool.map(lambda n: settle(ctx, n), range(50)))
    with ctx.db.uow() as uow:
        assert account_balance(uow, "wallet:drv", "EUR") == Decimal("100.00") - 50 * Decimal("1.19")
        assert account_balance(uow, "debt:drv", "EUR") == 0
        assert trial_balance(trial_balance_rows(uow)).balanced


def test_concurrent_settlements_beyond_the_balance_never_take_the_wallet_below_zero(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("30.00", "EUR"), "req")
    with ThreadPoolExecutor(50) as pool:
        list(pool.map(lambda n: settle(ctx, n), range(50)))
    with ctx.db.uow() as uow:
        assert account_balance(uow, "wallet:drv", "EUR") == Decimal("0.00")
        assert account_balance(uow, "debt:drv", "EUR") == 50 * Decimal("1.19") - Decimal("30.00")
        assert trial_balance(trial_balance_rows(uow)).balanced


def test_the_same_cdr_settled_by_fifty_threads_is_booked_once(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("10.00", "EUR"), "req")
    with ThreadPoolExecutor(50) as pool:
        list(pool.map(lambda _: settle(ctx, 7), range(50)))
    with ctx.db.uow() as uow:
        assert account_balance(uow, "wallet:drv", "EUR") == Decimal("8.81")
