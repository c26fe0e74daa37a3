"""Property test through the real services and store (SQLite): any sequence of top-ups, sessions and refunds keeps
the trial balance at zero and no wallet negative, and replaying the whole sequence changes nothing."""

from __future__ import annotations

import secrets
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltbill.adapters.payments.sandbox import SandboxGateway
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import trial_balance_rows
from voltbill.adapters.store.migrate import migrate
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import Conflict
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payments import refund_payment
from voltbill.services.settlement import payment_id_for, settle_priced_session
from voltbill.services.wallet import top_up_wallet

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("80"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(0, 2), amounts),
        st.tuples(st.just("session"), st.integers(0, 2), amounts, st.sampled_from(["wallet", "invoice"])),
        st.tuples(st.just("refund"), st.integers(0, 2), amounts),
    ),
    max_size=12,
)


def apply(ctx: PaymentsContext, run: str, sequence: list[tuple[object, ...]]) -> None:
    sessions: list[str] = []
    for i, step in enumerate(sequence):
        driver = f"{run}-d{step[1]}"
        if step[0] == "top_up":
            top_up_wallet(ctx, driver, Money(step[2], "EUR"), f"{run}-t{i}")  # type: ignore[arg-type]
        elif step[0] == "session":
            net = step[2]
            event = {
                "session_id": f"{run}-s{i}",
                "cdr_id": f"{run}-c{i}",
                "driver_id": driver,
                "currency": "EUR",
                "total_cost": {"excl_vat": str(net), "incl_vat": str(net * Decimal("1.21"))},  # type: ignore[operator]
            }
            settle_priced_session(ctx, event, str(step[3]))
            sessions.append(f"{run}-s{i}")
        elif sessions:
            pid = payment_id_for("session_payment", session_id=sessions[-1])
            with suppress(Conflict):  # more than is left to refund: refused, nothing written
                refund_payment(ctx, pid, Money(step[2], "EUR"), f"{run}-r{i}")  # type: ignore[arg-type]


def snapshot(ctx: PaymentsContext) -> list[tuple[str, str, Decimal, Decimal]]:
    with ctx.db.uow() as uow:
        return sorted(trial_balance_rows(uow))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_any_sequence_keeps_the_books_balanced_and_a_replay_changes_nothing(
    tmp_path: Path, sequence: list[tuple[object, ...]]
) -> None:
    url = f"sqlite:///{tmp_path / 'props.db'}"
    if not (tmp_path / "props.db").exists():
        migrate(url)
    db = Database(url)
    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    ctx = PaymentsContext(db, SandboxGateway(), EventBus(), clock, PaymentSettings(payment_gateway="sandbox"))
    run = secrets.token_hex(4)
    try:
        apply(ctx, run, sequence)
        first = snapshot(ctx)
        rows = trial_balance(first)
        assert rows.balanced
        assert all(r.balance >= 0 for r in rows.accounts if r.account.startswith("wallet:"))
        apply(ctx, run, sequence)
        assert snapshot(ctx) == first
    finally:
        db.dispose()
