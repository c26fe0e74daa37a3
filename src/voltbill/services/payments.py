"""Payments use cases for the API and the event bus: cards on file, refunds, payment history, trial balance,
webhooks, the start check, the remote stop of an exhausted wallet, settlement on ``session.priced`` and the
catch-up of CDRs whose event was lost.

``subscribe(state)`` wires it all into an app (``app.state.payments`` is the ``PaymentsContext``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import anyio
from sqlalchemy import select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.ledger_store import post_transfer, trial_balance_rows
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard, PaymentRefund, WebhookEvent
from voltbill.adapters.store.tables.registry import Driver
from voltbill.adapters.store.tables.sessions import CdrRow
from voltbill.domain.errors import Conflict, InvalidInput, NotFound, VoltbillError
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.domain.settlement import refund
from voltbill.services import registry
from voltbill.services.payment_context import PaymentsContext, PaymentSettings, make_gateway
from voltbill.services.settlement import (
    mark_collected,
    payment_id_for,
    preauthorise_session,
    process_due_payments,
    settle_priced_session,
    settle_priced_sessions,
)
from voltbill.services.wallet import auto_top_up, money_text, wallet_exhausted, wallet_start_refusal

log = logging.getLogger(__name__)

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


def trial_balance_json(uow: UnitOfWork, currency: str | None = None) -> dict[str, Any]:
    """The CONTRACT.md trial balance: every account's debit and credit totals; balanced when they match."""
    tb = trial_balance(trial_balance_rows(uow, currency))
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


# --- start check, events, catch-up ---------------------------------------------------------------------------------


def _payment_method(uow: UnitOfWork, driver_id: str | None) -> str | None:
    if driver_id is None:
        return None
    driver = registry.get_driver(uow, driver_id)
    return None if driver is None else driver.payment_method


def start_check(ctx: PaymentsContext, uow: UnitOfWork, token: Any) -> str | None:
    """``app.state.start_checks`` entry: a wallet must hold ``wallet_minimum``; a card driver needs a card on file."""
    driver_id = getattr(token, "driver_id", None)
    method = getattr(token, "payment_method", None) or _payment_method(uow, driver_id)
    if driver_id is None:
        return None
    if method == "wallet":
        return wallet_start_refusal(ctx, uow, driver_id)
    if method == "card" and uow.session.get(PaymentCard, driver_id) is None:
        return f"driver {driver_id} pays by card and has no card on file"
    return None


def _stop_session(ctx: PaymentsContext, event: Mapping[str, Any], reason: str) -> None:
    session_id = str(event["session_id"])
    if ctx.send_command is None or session_id in ctx.stopping:
        return
    ctx.stopping.add(session_id)
    log.info("stopping session %s remotely: %s", session_id, reason)
    params = {"transaction_id": event.get("transaction_id"), "session_id": session_id}
    ctx.send_command(str(event["charge_point_id"]), "remote-stop", params)


def ocpp_command(cp_id: str, command: str, params: dict[str, Any]) -> None:
    """Send a command through this process's OCPP connections, from the event loop or a worker thread."""
    from voltbill.adapters.ocpp.connections import registry as connections

    async def send() -> None:
        try:
            await connections.send_command(cp_id, command, params)
        except Exception as exc:
            log.warning("%s to %s failed: %s", command, cp_id, exc)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        try:
            connections.send_command_threadsafe(cp_id, command, params)
        except Exception as exc:
            log.warning("%s to %s failed: %s", command, cp_id, exc)
        return
    task = loop.create_task(send())
    ctx_tasks.add(task)
    task.add_done_callback(ctx_tasks.discard)


ctx_tasks: set[asyncio.Task[None]] = set()  # keeps fire-and-forget command tasks alive until done


def _tariff_currency(ctx: PaymentsContext, uow: UnitOfWork, charge_point_id: str) -> str | None:
    """The currency of the charger's tariff now (the hold's currency), or None to use the default."""
    charge_point = registry.get_charge_point(uow, charge_point_id)
    if charge_point is None or charge_point.tariff_id is None:
        return None
    try:
        return str(registry.tariff_at(uow, charge_point.tariff_id, ctx.clock.now()).currency)
    except VoltbillError:
        return None


def on_session_started(ctx: PaymentsContext, event: Mapping[str, Any]) -> None:
    """Pre-authorise card drivers; a declined hold stops the session."""
    with ctx.db.uow() as uow:
        method = _payment_method(uow, event.get("driver_id"))
        currency = _tariff_currency(ctx, uow, str(event.get("charge_point_id")))
    if method != "card":
        return

    def hold() -> None:
        session_id, driver_id = str(event["session_id"]), str(event["driver_id"])
        result = preauthorise_session(ctx, session_id, driver_id, event.get("id_token"), currency)
        if result.status == "declined":
            _stop_session(ctx, event, f"card pre-authorisation declined: {result.error}")

    ctx.in_background(hold)


def on_cost_updated(ctx: PaymentsContext, event: Mapping[str, Any]) -> None:
    """Stop a wallet driver's session when its running cost reaches the wallet balance."""
    with ctx.db.uow() as uow:
        method = _payment_method(uow, event.get("driver_id"))
    if method != "wallet":
        return
    total = event["total_cost"]
    live = Decimal(str(total["incl_vat"] if total.get("incl_vat") is not None else total["excl_vat"]))
    if wallet_exhausted(ctx, str(event["driver_id"]), str(event["currency"]), live):
        _stop_session(ctx, event, "the wallet balance is used up")


def on_session_priced(ctx: PaymentsContext, event: Mapping[str, Any]) -> None:
    """Settle the CDR, announce ``session.settled``, then collect card payments / top wallets up off the loop."""
    ctx.stopping.discard(str(event["session_id"]))
    driver_id = event.get("driver_id")
    if not driver_id or event["total_cost"].get("excl_vat") is None:
        return  # an anonymous or unpriced session has nobody to bill
    with ctx.db.uow() as uow:
        method = _payment_method(uow, str(driver_id))
    if method is None:
        log.warning("CDR %s: driver %s is not registered; left unsettled", event["cdr_id"], driver_id)
        return
    result = settle_priced_session(ctx, event, method)
    if result.created:
        ctx.bus.publish("session.settled", result.event())
    if method == "card":
        ctx.in_background(lambda: process_due_payments(ctx))
    elif method == "wallet":
        ctx.in_background(lambda: auto_top_up(ctx, str(driver_id), str(event["cdr_id"])))


def settle_unsettled(ctx: PaymentsContext, limit: int = 500) -> int:
    """Settle priced CDRs that have no settlement yet (their ``session.priced`` was lost), in one batch; publish
    ``session.settled`` for each. Returns how many were settled."""
    with ctx.db.uow() as uow:
        settled = select(Payment.cdr_id).where(Payment.cdr_id.is_not(None))
        rows = uow.session.execute(
            select(CdrRow, Driver.payment_method)
            .join(Driver, Driver.id == CdrRow.driver_id)
            .where(CdrRow.priced.is_(True), CdrRow.total_excl_vat.is_not(None), CdrRow.id.not_in(settled))
            .order_by(CdrRow.end_date_time)
            .limit(limit)
        ).all()
        items = [
            (
                {
                    "session_id": cdr.session_id,
                    "cdr_id": cdr.id,
                    "driver_id": cdr.driver_id,
                    "charge_point_id": cdr.charge_point_id,
                    "currency": cdr.currency,
                    "total_cost": {
                        "excl_vat": format(cdr.total_excl_vat, "f"),
                        "incl_vat": None if cdr.total_incl_vat is None else format(cdr.total_incl_vat, "f"),
                    },
                },
                method,
            )
            for cdr, method in rows
        ]
    if not items:
        return 0
    results = settle_priced_sessions(ctx, items)
    for result in results:
        if result.created:
            ctx.bus.publish("session.settled", result.event())
    log.info("catch-up settled %d priced CDRs whose event was lost", sum(r.created for r in results))
    return sum(r.created for r in results)


def run_payments_jobs(ctx: PaymentsContext) -> None:
    """One round of the background jobs: settle lost CDRs, then collect due card payments."""
    settle_unsettled(ctx)
    process_due_payments(ctx)


async def payments_worker(ctx: PaymentsContext) -> None:
    """Run ``run_payments_jobs`` every ``payments_poll_s`` seconds, off the event loop."""
    while True:
        try:
            await anyio.to_thread.run_sync(run_payments_jobs, ctx)
        except Exception:
            log.exception("payments jobs failed; retrying in %.0f s", ctx.config.payments_poll_s)
        await asyncio.sleep(ctx.config.payments_poll_s)


def ensure_worker(ctx: PaymentsContext) -> None:
    """Start the payments worker on the running event loop, once (the server's first request or event)."""
    if ctx.worker is not None or ctx.config.payments_poll_s <= 0:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    ctx.worker = loop.create_task(payments_worker(ctx), name="payments-worker")


def subscribe(state: Any, config: PaymentSettings | None = None) -> PaymentsContext:
    """Wire payments into an app: ``state.payments``, the start check, the event consumers. The worker (settling
    lost CDRs, collecting due card payments) starts with the first request or event on the server's loop."""
    config = config or PaymentSettings()
    ctx = PaymentsContext(state.db, make_gateway(config), state.bus, state.clock, config, ocpp_command)
    state.payments = ctx
    state.start_checks.append(lambda uow, token: start_check(ctx, uow, token))

    def consumer(handler: Any) -> Any:
        def handle(event: dict[str, Any]) -> None:
            ensure_worker(ctx)
            handler(ctx, event)

        return handle

    state.bus.subscribe("session.started", consumer(on_session_started))
    state.bus.subscribe("session.cost_updated", consumer(on_cost_updated))
    state.bus.subscribe("session.priced", consumer(on_session_priced))
    return ctx
