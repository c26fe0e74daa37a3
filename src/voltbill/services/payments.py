"""Payments use cases for the API: cards on file, payment history, refunds, trial balance, webhooks; and
``subscribe(state)``, which wires the event consumers of ``payment_events`` into an app (``app.state.payments`` is
the ``PaymentsContext``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.ledger_store import post_transfer, trial_balance_rows
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard, PaymentRefund, WebhookEvent
from voltbill.adapters.store.tables.registry import Driver
from voltbill.adapters.store.tables.sessions import CdrRow
from voltbill.config import PaymentSettings
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.domain.settlement import refund, session_charge
from voltbill.services import payment_events as events
from voltbill.services.payment_context import PaymentsContext, make_gateway
from voltbill.services.settlement import (
    mark_collected,
    payment_id_for,
)
from voltbill.services.wallet import money_text

OPEN_STATUSES = ("capture_pending", "failed", "declined")


# --- cards, history, refunds, trial balance --------------------------------------------------------------------


def save_card(
    ctx: PaymentsContext, driver_id: str, email: str | None, provider: str, payment_method_id: str
) -> dict[str, Any]:
    """Put a card on file: create the provider's customer (once per driver) and attach the payment method."""
    if provider != ctx.gateway.name:
        raise InvalidInput(f"provider must be {ctx.gateway.name!r} on this server", field="$.provider")
    customer = ctx.gateway.ensure_customer(driver_id, email, key=idempotency_key("customer", driver_id=driver_id))
    with ctx.db.uow() as uow:
        row = uow.session.get(PaymentCard, driver_id)
        if row is not None and row.provider == provider:
            customer = row.customer_id
    key = idempotency_key("attach_card", driver_id=driver_id, payment_method_id=payment_method_id)
    pm = ctx.gateway.attach_card(customer, payment_method_id, key=key)
    with ctx.db.uow() as uow:
        row = uow.session.get(PaymentCard, driver_id)
        if row is None:
            row = PaymentCard(driver_id=driver_id)
            uow.session.add(row)
        row.provider, row.customer_id, row.payment_method_id = provider, customer, pm
        row.updated_at = ctx.clock.now()
        uow.commit()
    return {"driver_id": driver_id, "provider": provider, "customer_id": customer, "payment_method_id": pm}


def payment_json(row: Payment) -> dict[str, Any]:
    def amount(value: Decimal | None) -> str | None:
        return None if value is None else money_text(Money(value, row.currency))

    return {
        "id": row.id,
        "kind": row.kind,
        "driver_id": row.driver_id,
        "session_id": row.session_id,
        "cdr_id": row.cdr_id,
        "payment_method": row.payment_method,
        "provider": row.provider,
        "provider_ref": row.provider_ref,
        "status": row.status,
        "currency": row.currency,
        "authorised_amount": amount(row.authorised_amount),
        "amount": amount(row.amount),
        "captured_amount": amount(row.captured_amount),
        "refunded_amount": amount(row.refunded_amount),
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def list_payments(
    uow: UnitOfWork,
    operator_id: str,
    *,
    driver_id: str | None = None,
    open_only: bool = False,
    limit: int = 50,
    after: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """An operator's payments, by id descending (``open_only``: pending, failed and declined, to follow up)."""
    query = select(Payment).join(Driver, Driver.id == Payment.driver_id).where(Driver.operator_id == operator_id)
    if driver_id is not None:
        query = query.where(Payment.driver_id == driver_id)
    if open_only:
        query = query.where(Payment.status.in_(OPEN_STATUSES))
    if after is not None:
        query = query.where(Payment.id < after)
    rows = list(uow.session.scalars(query.order_by(Payment.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return [payment_json(r) for r in rows[:limit]], next_cursor


def get_payment(uow: UnitOfWork, payment_id: str, operator_id: str) -> dict[str, Any]:
    """One payment of the operator's drivers (``payment_not_found`` otherwise)."""
    row = uow.session.get(Payment, payment_id)
    driver = None if row is None else uow.session.get(Driver, row.driver_id)
    if row is None or driver is None or driver.operator_id != operator_id:
        raise NotFound(f"payment {payment_id} does not exist", code="payment_not_found", field="payment_id")
    return payment_json(row)


def refund_payment(
    ctx: PaymentsContext, payment_id: str, amount: Money, request_key: str, reason: str | None = None
) -> dict[str, Any]:
    """Refund (part of) a settled session payment once per ``request_key``: back to the card, the wallet, or off
    the invoice receivable. Refunds never exceed what was paid."""
    key = idempotency_key("refund", payment_id=payment_id, request=request_key)
    with ctx.db.uow() as uow:
        done = uow.session.execute(
            select(PaymentRefund).where(PaymentRefund.idempotency_key == key)
        ).scalar_one_or_none()
        if done is not None:
            return _refund_json(done)
        row = uow.session.get(Payment, payment_id)
        if row is None:
            raise NotFound(f"payment {payment_id} does not exist", code="payment_not_found", field="payment_id")
        _check_refundable(row, amount)
        method, ref, provider = row.payment_method, row.provider_ref, row.provider
    provider_ref = None
    if method == "card":
        assert ref is not None
        provider_ref = ctx.gateway.refund(ref, amount, key=key)
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        row = uow.session.get(Payment, payment_id, with_for_update=True)
        assert row is not None
        done = uow.session.execute(
            select(PaymentRefund).where(PaymentRefund.idempotency_key == key)
        ).scalar_one_or_none()
        if done is not None:
            return _refund_json(done)
        _check_refundable(row, amount)
        row.refunded_amount += amount.amount
        row.updated_at = now
        post_transfer(uow, refund(key, row.driver_id, method, amount, row.id, provider), now)
        done = PaymentRefund(
            id=payment_id_for("refund", key=key).replace("pay_", "re_"),
            payment_id=payment_id,
            idempotency_key=key,
            amount=amount.amount,
            currency=amount.currency,
            provider_ref=provider_ref,
            reason=reason,
            created_at=now,
        )
        uow.session.add(done)
        uow.commit()
        return _refund_json(done)


def _check_refundable(row: Payment, amount: Money) -> None:
    if row.kind not in ("session", "session_rest") or row.status not in ("captured", "paid", "on_account"):
        raise Conflict(f"payment {row.id} ({row.status}) cannot be refunded", code="payment_not_refundable")
    if amount.currency != row.currency:
        raise InvalidInput(f"the refund currency must be {row.currency}", field="$.currency")
    paid = row.amount if row.status == "on_account" else row.captured_amount
    left = (paid or Decimal(0)) - row.refunded_amount
    if amount.amount > left:
        raise Conflict(
            f"refund of {amount} exceeds the {left} {row.currency} left to refund", code="refund_exceeds_payment"
        )


def _refund_json(row: PaymentRefund) -> dict[str, Any]:
    return {
        "id": row.id,
        "payment_id": row.payment_id,
        "amount": money_text(Money(row.amount, row.currency)),
        "currency": row.currency,
        "reason": row.reason,
        "provider_ref": row.provider_ref,
        "status": "succeeded",
        "created_at": row.created_at.isoformat(),
    }


def card_reconciliation(uow: UnitOfWork, operator_id: str) -> dict[str, Any]:
    """Per currency: the totals of the CDRs settled by card, and where that money is — ``captured``, ``pending``
    (queued or retrying) or ``debt`` (failed for good). ``reconciled`` when the three add up to the CDR totals."""
    sums: dict[str, dict[str, Decimal]] = {}
    cdrs = uow.session.execute(
        select(CdrRow.currency, CdrRow.total_excl_vat, CdrRow.total_incl_vat)
        .join(Payment, Payment.cdr_id == CdrRow.id)
        .join(Driver, Driver.id == Payment.driver_id)
        .where(Payment.kind == "session", Payment.payment_method == "card", Driver.operator_id == operator_id)
    )
    for currency, excl, incl in cdrs:
        bucket = sums.setdefault(currency, dict.fromkeys(("cdr_totals", "captured", "pending", "debt"), Decimal(0)))
        bucket["cdr_totals"] += session_charge(currency, excl, incl).gross.amount
    collected = uow.session.execute(
        select(Payment.currency, Payment.status, Payment.amount, Payment.captured_amount)
        .join(Driver, Driver.id == Payment.driver_id)
        .where(
            Payment.kind.in_(("session", "session_rest")),
            Payment.payment_method == "card",
            Payment.cdr_id.is_not(None),
            Driver.operator_id == operator_id,
        )
    )
    where = {"captured": "captured", "capture_pending": "pending", "failed": "debt"}
    for currency, status, amount, captured in collected:
        bucket = sums.setdefault(currency, dict.fromkeys(("cdr_totals", "captured", "pending", "debt"), Decimal(0)))
        if status in where:
            bucket[where[status]] += captured if status == "captured" else (amount or Decimal(0))
    return {
        "currencies": [
            {
                "currency": currency,
                **{name: money_text(Money(value, currency)) for name, value in bucket.items()},
                "reconciled": bucket["cdr_totals"] == bucket["captured"] + bucket["pending"] + bucket["debt"],
            }
            for currency, bucket in sorted(sums.items())
        ]
    }


def trial_balance_json(
    uow: UnitOfWork, currency: str | None = None, *, operator_id: str | None = None
) -> dict[str, Any]:
    """The CONTRACT.md trial balance: every account's debit and credit totals; balanced when they match. With
    ``operator_id``: that operator's share of the ledger only (the REST API); without: the whole ledger (the CLI)."""
    tb = trial_balance(trial_balance_rows(uow, currency, operator_id=operator_id))
    return {
        "balanced": tb.balanced,
        "accounts": [
            {
                "account": row.account,
                "debit": money_text(Money(row.debit, row.currency)),
                "credit": money_text(Money(row.credit, row.currency)),
                "balance": money_text(Money(row.balance, row.currency)),
                "currency": row.currency,
            }
            for row in tb.accounts
        ],
    }


# --- webhooks ----------------------------------------------------------------------------------------------------


def handle_webhook(ctx: PaymentsContext, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify a provider webhook and apply it once per event id (a redelivery answers ``duplicate``).

    Events only move a payment forward: ``payment_intent.succeeded`` confirms a capture whose answer was lost
    (crash after the provider captured); a late or out-of-order event for a finished payment changes nothing.
    """
    event = ctx.gateway.parse_webhook(payload, signature)
    with ctx.db.uow() as uow:
        if uow.session.get(WebhookEvent, event.id) is not None:
            return {"id": event.id, "status": "duplicate"}
        uow.session.add(
            WebhookEvent(event_id=event.id, provider=ctx.gateway.name, type=event.type, received_at=ctx.clock.now())
        )
        row = None
        if event.object_id:
            row = uow.session.execute(
                select(Payment).where(Payment.provider_ref == event.object_id, Payment.status == "capture_pending")
            ).scalar_one_or_none()
        pending = row.id if row is not None else None
        if row is not None and event.type == "payment_intent.payment_failed":
            row.last_error = f"webhook {event.type}"
        uow.commit()
    if pending is not None and event.type == "payment_intent.succeeded":
        mark_collected(ctx, pending, "captured", event.object_id)
    return {"id": event.id, "status": "processed"}


def subscribe(state: Any, config: PaymentSettings | None = None) -> PaymentsContext:
    """Wire payments into an app: ``state.payments``, the start check, the event consumers. The worker (settling
    lost CDRs, collecting due card payments) starts with the first request or event on the server's loop."""
    config = config or PaymentSettings()
    ctx = PaymentsContext(state.db, make_gateway(config), state.bus, state.clock, config, events.ocpp_command)
    state.payments = ctx
    state.start_checks.append(lambda uow, token: events.start_check(ctx, uow, token))

    def consumer(handler: Any) -> Any:
        def handle(event: dict[str, Any]) -> None:
            events.ensure_worker(ctx)
            handler(ctx, event)

        return handle

    state.bus.subscribe("session.started", consumer(events.on_session_started))
    state.bus.subscribe("session.cost_updated", consumer(events.on_cost_updated))
    state.bus.subscribe("session.priced", consumer(events.on_session_priced))
    return ctx
