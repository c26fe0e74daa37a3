"""Ledger rules: balanced transfers, derived balances, idempotent posting, settlement transfers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voltbill.domain.errors import InvalidInput
from voltbill.domain.ledger import DEBT, REVENUE, VAT_PAYABLE, WALLET, Ledger, account, make_transfer
from voltbill.domain.money import Money
from voltbill.domain.settlement import capture, record_debt, refund, session_charge, settle_session, top_up
from voltbill.domain.wallet import auto_top_up_due, must_stop, start_refusal


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def test_an_unbalanced_transfer_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        make_transfer("k", "x", debits=[("revenue", eur("1"))], credits=[("wallet:d", eur("0.99"))])
    assert err.value.field == "postings"


def test_a_transfer_in_two_currencies_is_refused() -> None:
    with pytest.raises(InvalidInput):
        make_transfer("k", "x", debits=[("revenue", eur("1"))], credits=[("wallet:d", Money.of("1", "USD"))])


def test_a_replayed_transfer_changes_nothing() -> None:
    ledger = Ledger()
    first = ledger.post(top_up("k1", "d1", eur("10.00"), "manual"))
    again = ledger.post(top_up("k1", "d1", eur("99.00"), "manual"))
    assert again is first
    assert ledger.balance(account(WALLET, "d1"), "EUR") == Decimal("10.00")


def test_the_charge_is_incl_vat_rounded_to_cents_and_splits_revenue_and_vat() -> None:
    charge = session_charge("EUR", "10.12345", "12.04691")
    assert (charge.gross, charge.net, charge.vat) == (eur("12.05"), eur("10.12"), eur("1.93"))


def test_the_charge_is_excl_vat_when_vat_is_unknown() -> None:
    charge = session_charge("EUR", "3.3333", None)
    assert charge.gross == charge.net == eur("3.33")


def test_a_wallet_settlement_never_takes_the_wallet_below_zero() -> None:
    ledger = Ledger()
    ledger.post(top_up("t", "d", eur("5.00"), "manual"))
    transfer = settle_session("cdr1", "d", "wallet", session_charge("EUR", "6.00", "7.14"), eur("5.00"))
    ledger.post(transfer)
    assert ledger.balance(account(WALLET, "d"), "EUR") == 0
    assert ledger.balance(account(DEBT, "d"), "EUR") == Decimal("2.14")
    assert ledger.balance(account(REVENUE), "EUR") == Decimal("6.00")
    assert ledger.balance(account(VAT_PAYABLE), "EUR") == Decimal("1.14")
    assert ledger.trial_balance().balanced


def test_a_failed_card_payment_turns_the_receivable_into_debt() -> None:
    ledger = Ledger()
    ledger.post(settle_session("cdr", "d", "card", session_charge("EUR", "10", "11.90")))
    ledger.post(record_debt("debt-1", "d", eur("11.90"), "pay1"))
    assert ledger.balance("receivable:d", "EUR") == 0
    assert ledger.balance("debt:d", "EUR") == Decimal("11.90")


def test_wallet_rules_refuse_starts_below_the_minimum_and_stop_at_the_balance() -> None:
    assert start_refusal(eur("5.00"), eur("5.00")) is None
    assert "below the minimum" in (start_refusal(eur("4.99"), eur("5.00")) or "")
    assert must_stop(eur("3.00"), eur("3.00"))
    assert not must_stop(eur("3.00"), eur("2.99"))
    assert auto_top_up_due(eur("4.99"), eur("5.00"))
    assert not auto_top_up_due(eur("4.99"), None)


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
methods = st.sampled_from(["wallet", "card", "invoice"])
actions = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(0, 2), amounts),
        st.tuples(st.just("session"), st.integers(0, 2), amounts, methods),
        st.tuples(st.just("refund"), st.integers(0, 2), amounts),
        st.tuples(st.just("capture_or_debt"), st.integers(0, 2), st.booleans()),
    ),
    max_size=40,
)


def _apply(ledger: Ledger, steps: list[tuple[object, ...]]) -> None:
    """Apply actions the way the payments service does (wallet balance read before settling)."""
    settled: list[tuple[str, str, str, Money]] = []
    for i, step in enumerate(steps):
        driver = f"d{step[1]}"
        if step[0] == "top_up":
            ledger.post(top_up(f"top-{i}", driver, Money(step[2], "EUR"), "manual"))  # type: ignore[arg-type]
        elif step[0] == "session":
            net = step[2]
            charge = session_charge("EUR", net, net * Decimal("1.19"))  # type: ignore[operator,arg-type]
            method = str(step[3])
            balance = Money(ledger.balance(account(WALLET, driver), "EUR"), "EUR")
            ledger.post(settle_session(f"cdr-{i}", driver, method, charge, balance))
            settled.append((f"cdr-{i}", driver, method, charge.gross))
        elif step[0] == "refund" and settled:
            cdr, owner, method, gross = settled[-1]
            amount = min(gross, Money(step[2], "EUR"))  # type: ignore[arg-type]
            ledger.post(refund(f"refund-{cdr}", owner, method, amount, cdr, "stripe"))
        elif step[0] == "capture_or_debt" and settled and settled[-1][2] == "card":
            cdr, owner, _, gross = settled[-1]
            make = capture if step[2] else None
            if make is not None:
                ledger.post(make(f"pay-{cdr}", owner, gross, "stripe", cdr))
            else:
                ledger.post(record_debt(f"pay-{cdr}", owner, gross, cdr))


@settings(max_examples=150, deadline=None)
@given(actions)
def test_any_sequence_keeps_the_trial_balance_at_zero_and_no_wallet_negative(steps: list[tuple[object, ...]]) -> None:
    ledger = Ledger()
    _apply(ledger, steps)
    assert ledger.trial_balance().balanced
    for row in ledger.trial_balance().accounts:
        if row.account.startswith("wallet:"):
            assert row.balance >= 0


@settings(max_examples=100, deadline=None)
@given(actions)
def test_replaying_every_input_twice_changes_nothing(steps: list[tuple[object, ...]]) -> None:
    ledger = Ledger()
    _apply(ledger, steps)
    before = (ledger.trial_balance(), ledger.transfers())
    _apply(ledger, steps)
    assert (ledger.trial_balance(), ledger.transfers()) == before
