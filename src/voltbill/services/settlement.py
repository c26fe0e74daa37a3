"""Settling priced sessions: pre-authorise cards at start, book the sale, capture or debit, retry, record debt.

Card flow: ``session.started`` -> ``preauthorise_session`` holds ``preauth_amount``; ``session.priced`` ->
``settle_priced_session`` books the sale (receivable) and queues the payment (``capture_pending``); the payments
worker (``process_due_payments``) captures the exact total (more than the hold: the hold is captured and the rest
charged as a second payment; zero: the hold is cancelled). A declined payment is retried with a doubling backoff
and after ``capture_max_attempts`` booked as the driver's debt (status ``failed``) for the operator to follow up.
Wallet and invoice drivers are settled in the same transaction that books the sale.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.payments.port import GatewayUnavailable, PaymentDeclined
from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.ledger_store import (
    account_balance,
    account_balances,
    lock_accounts,
    post_transfer,
    post_transfers,
)
from voltbill.adapters.store.one_of import one_of
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard
from voltbill.domain.errors import Conflict, InvalidInput, VoltbillError
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.ledger import WALLET, Transfer, account
from voltbill.domain.money import Money, check_currency
from voltbill.domain.settlement import (
    SessionCharge,
    capture,
    check_method,
    record_debt,
    session_charge,
    settle_session,
)
from voltbill.services.payment_context import PaymentsContext

log = logging.getLogger(__name__)


def claim_lease(stripe_timeout_s: float) -> timedelta:
    """How long a claimed payment is left to the worker that claimed it: ten provider timeouts (5 minutes with the
    default ``VOLTBILL_STRIPE_TIMEOUT_S``).

    An attempt makes at most two requests (a capture, then reading the intent when the capture is refused), each
    tried three times by the SDK, each try bounded by the timeout, with under 1.5 s of the SDK's pauses per request.
    A worker that died mid-attempt (kill -9) leaves its claim behind; the next round takes the payment up once the
    lease has passed, with the same idempotency key."""
    return timedelta(seconds=10 * stripe_timeout_s)


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of settling one CDR; ``created`` is False when it had been settled before (replay)."""

    session_id: str
    cdr_id: str
    driver_id: str
    payment_method: str
    amount: Money
    payment_id: str
    status: str
    created: bool

    def event(self) -> dict[str, Any]:
        """The ``session.settled`` payload (interfaces.md)."""
        return {
            "session_id": self.session_id,
            "cdr_id": self.cdr_id,
            "driver_id": self.driver_id,
            "payment_method": self.payment_method,
            "amount": str(self.amount.amount),
            "currency": self.amount.currency,
        }


def payment_id_for(kind: str, **parts: object) -> str:
    return "pay_" + idempotency_key(kind, **parts).split("-", 1)[1][:24]


@dataclass(frozen=True, slots=True)
class Card:
    """A card on file: the provider's ``customer_id`` and ``payment_method_id``."""

    provider: str
    customer_id: str
    payment_method_id: str


def card_on_file(uow: UnitOfWork, driver_id: str) -> Card | None:
    row = uow.session.get(PaymentCard, driver_id)
    return None if row is None else Card(row.provider, row.customer_id, row.payment_method_id)


def wallet_balance(uow: UnitOfWork, driver_id: str, currency: str) -> Money:
    return Money(account_balance(uow, account(WALLET, driver_id), currency), currency)


def new_payment(ctx: PaymentsContext, **values: Any) -> Payment:
    """A payment row with zero amounts collected and refunded, created now."""
    now = ctx.clock.now()
    values.setdefault("captured_amount", Decimal(0))
    values.setdefault("refunded_amount", Decimal(0))
    values.setdefault("attempts", 0)
    return Payment(created_at=now, updated_at=now, **values)


def settle_priced_session(ctx: PaymentsContext, event: Mapping[str, Any], payment_method: str) -> Settlement:
    """Book a ``session.priced`` CDR once: wallet debit, card payment queued, or receivable for invoice drivers."""
    return settle_priced_sessions(ctx, [(event, payment_method)])[0]


@dataclass(frozen=True, slots=True)
class _Priced:
    event: Mapping[str, Any]
    method: str
    session_id: str
    cdr_id: str
    driver_id: str
    charge: SessionCharge


class _Raced(Exception):
    """A concurrent transaction settled one of the CDRs first; the batch is retried and replays it."""


def settle_priced_sessions(ctx: PaymentsContext, items: Sequence[tuple[Mapping[str, Any], str]]) -> list[Settlement]:
    """Settle many priced CDRs in one unit of work (the catch-up job, bursts); one ``Settlement`` per item.

    Wallets are locked (PostgreSQL advisory locks, in a fixed order) and their balances read once; each
    settlement then sees the ones before it, so no wallet goes negative. A CDR settled before is replayed.
    """
    priced = []
    for event, method in items:
        total = event["total_cost"]
        currency = check_currency(str(event["currency"]))
        priced.append(
            _Priced(
                event,
                check_method(method),
                str(event["session_id"]),
                str(event["cdr_id"]),
                str(event["driver_id"]),
                session_charge(currency, total["excl_vat"], total.get("incl_vat")),
            )
        )
    for _ in range(5):
        try:
            return _settle_batch(ctx, priced)
        except _Raced:
            continue
    raise Conflict("settlement kept racing with another settlement of the same CDRs; retry", code="settlement_race")


def _settle_batch(ctx: PaymentsContext, priced: Sequence[_Priced]) -> list[Settlement]:
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        ids = list({p.session_id for p in priced})
        rows = {
            r.session_id: r
            for r in uow.session.scalars(select(Payment).where(one_of(Payment.session_id, ids)).with_for_update())
        }
        wallets = {
            (account(WALLET, p.driver_id), p.charge.gross.currency)
            for p in priced
            if p.method == "wallet" and not (p.session_id in rows and rows[p.session_id].cdr_id)
        }
        lock_accounts(uow, wallets)
        balances = account_balances(uow, wallets)
        with uow.session.no_autoflush:  # post the transfers first: a raced CDR must fail on its unique key
            transfers: list[Transfer] = []
            results: list[Settlement] = []
            for p in priced:
                row = rows.get(p.session_id)
                if row is not None and row.cdr_id is not None:
                    results.append(_settlement(row, p.event, created=False))
                    continue
                gross = p.charge.gross
                if not gross.is_zero():
                    wallet_key = (account(WALLET, p.driver_id), gross.currency)
                    balance = Money(balances[wallet_key], gross.currency) if p.method == "wallet" else None
                    transfer = settle_session(p.cdr_id, p.driver_id, p.method, p.charge, balance)
                    transfers.append(transfer)
                    if p.method == "wallet":
                        balances[wallet_key] -= sum(
                            (x.amount.amount for x in transfer.postings if x.account == wallet_key[0]), Decimal(0)
                        )
                if row is None:
                    row = new_payment(
                        ctx,
                        id=payment_id_for("session_payment", session_id=p.session_id),
                        kind="session",
                        driver_id=p.driver_id,
                        session_id=p.session_id,
                        currency=gross.currency,
                    )
                    uow.session.add(row)
                    rows[p.session_id] = row
                row.cdr_id, row.payment_method, row.updated_at = p.cdr_id, p.method, now
                if p.method == "card":
                    _queue_card_payment(ctx, uow, row, gross)
                else:
                    row.amount, row.currency = gross.amount, gross.currency
                    row.status = "free" if gross.is_zero() else ("paid" if p.method == "wallet" else "on_account")
                    row.captured_amount = gross.amount if p.method == "wallet" else Decimal(0)
                results.append(_settlement(row, p.event, created=True))
            if not all(posted.created for posted in post_transfers(uow, transfers, now)):
                uow.rollback()
                raise _Raced
        try:
            uow.commit()
        except IntegrityError:  # a concurrent settlement inserted the same (free) session's payment
            raise _Raced from None
        return results


def _queue_card_payment(ctx: PaymentsContext, uow: UnitOfWork, row: Payment, gross: Money) -> None:
    """Queue the capture of ``gross``: on the hold when there is one, the excess as a second (charge) payment.

    A hold in another currency is released (amount 0) and the whole total charged as the second payment.
    """
    now = ctx.clock.now()
    held = row.status == "authorised" and row.provider_ref is not None
    if held and row.currency == gross.currency:
        row.amount = min(gross.amount, row.authorised_amount or Decimal(0))
    elif held:
        row.amount = Decimal(0)
    else:  # nothing held (declined, or no pre-authorisation): charge off-session
        row.provider_ref, row.amount, row.currency = None, gross.amount, gross.currency
    rest = gross.amount - row.amount if row.currency == gross.currency else gross.amount
    row.provider = row.provider or ctx.gateway.name
    row.status, row.next_attempt_at = "capture_pending", now
    if rest > 0:
        uow.session.add(
            new_payment(
                ctx,
                id=payment_id_for("session_payment_rest", session_id=row.session_id),
                kind="session_rest",
                driver_id=row.driver_id,
                cdr_id=row.cdr_id,
                payment_method="card",
                provider=ctx.gateway.name,
                currency=gross.currency,
                amount=rest,
                status="capture_pending",
                next_attempt_at=now,
            )
        )


def _settlement(row: Payment, event: Mapping[str, Any], *, created: bool) -> Settlement:
    currency = str(event["currency"])
    total = event["total_cost"]
    gross = session_charge(currency, total["excl_vat"], total.get("incl_vat")).gross
    return Settlement(
        str(event["session_id"]),
        str(event["cdr_id"]),
        row.driver_id,
        row.payment_method,
        gross,
        row.id,
        row.status,
        created,
    )


def _claim(ctx: PaymentsContext, payment_id: str) -> Payment | None:
    """Take a due payment for processing (a lease: another worker skips it until the lease runs out)."""
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        claimed = uow.session.execute(
            update(Payment)
            .where(
                Payment.id == payment_id,
                Payment.status == "capture_pending",
                or_(Payment.next_attempt_at.is_(None), Payment.next_attempt_at <= now),
            )
            .values(next_attempt_at=now + claim_lease(ctx.config.stripe_timeout_s))
        ).rowcount
        if claimed != 1:
            return None
        row = uow.session.get(Payment, payment_id)
        uow.commit()
        return row


def process_payment(ctx: PaymentsContext, payment_id: str) -> str | None:
    """Capture, charge or release one queued payment; returns its new status (None if it was not due)."""
    row = _claim(ctx, payment_id)
    if row is None:
        return None
    amount = Money(row.amount or Decimal(0), row.currency)
    key = idempotency_key("collect", payment_id=row.id, attempt=row.attempts)
    try:
        if amount.is_zero():
            if row.provider_ref:
                ctx.gateway.cancel(row.provider_ref, key=key)
            return mark_collected(ctx, row.id, "cancelled", None)
        if row.provider_ref:
            ctx.gateway.capture(row.provider_ref, amount, key=key)
            return mark_collected(ctx, row.id, "captured", row.provider_ref)
        with ctx.db.uow() as uow:
            card = card_on_file(uow, row.driver_id)
        if card is None:
            raise PaymentDeclined("the driver has no card on file", field="card")
        ref = ctx.gateway.charge(card.customer_id, card.payment_method_id, amount, key=key)
        return mark_collected(ctx, row.id, "captured", ref)
    except (PaymentDeclined, GatewayUnavailable, InvalidInput) as exc:
        return _failed_attempt(ctx, row.id, exc)


def mark_collected(ctx: PaymentsContext, payment_id: str, status: str, ref: str | None) -> str:
    """Record a payment's final ``status`` (``captured``/``cancelled``); a capture is booked once in the ledger."""
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        row = uow.session.get(Payment, payment_id, with_for_update=True)
        assert row is not None
        row.status, row.provider_ref, row.next_attempt_at, row.updated_at = status, ref, None, now
        if status == "captured":
            amount = Money(row.amount or Decimal(0), row.currency)
            row.captured_amount = amount.amount
            key = idempotency_key("capture", payment_id=row.id)
            post_transfer(uow, capture(key, row.driver_id, amount, row.provider or ctx.gateway.name, row.id), now)
        uow.commit()
    return status


def _failed_attempt(ctx: PaymentsContext, payment_id: str, exc: VoltbillError) -> str:
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        row = uow.session.get(Payment, payment_id, with_for_update=True)
        assert row is not None
        row.last_error, row.updated_at = f"{exc.code}: {exc.message}", now
        if isinstance(exc, GatewayUnavailable):
            # The provider is down or timing out, not the card refusing: no attempt is used up (an outage never turns
            # a payment into debt) and the retry reuses this attempt's idempotency key, so a request the provider did
            # apply before its answer was lost is not applied twice.
            row.next_attempt_at = now + timedelta(seconds=ctx.config.capture_retry_base_s)
            uow.commit()
            return row.status
        row.attempts += 1
        if row.attempts >= ctx.config.capture_max_attempts:
            row.status, row.next_attempt_at = "failed", None
            amount = Money(row.amount or Decimal(0), row.currency)
            key = idempotency_key("debt", payment_id=row.id)
            post_transfer(uow, record_debt(key, row.driver_id, amount, row.id), now)
            log.warning("payment %s of driver %s failed for good; %s booked as debt", row.id, row.driver_id, amount)
        else:
            delay = ctx.config.capture_retry_base_s * 2 ** (row.attempts - 1)
            row.next_attempt_at = now + timedelta(seconds=delay)
        uow.commit()
        return row.status


def process_due_payments(ctx: PaymentsContext, limit: int = 100) -> int:
    """Process every queued payment whose next attempt is due; returns how many were attempted."""
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        due = list(
            uow.session.execute(
                select(Payment.id)
                .where(Payment.status == "capture_pending", Payment.next_attempt_at <= now)
                .order_by(Payment.next_attempt_at)
                .limit(limit)
            ).scalars()
        )
    return sum(1 for pid in due if process_payment(ctx, pid) is not None)
