"""Payments on the event bus: the start check, holds on ``session.started``, the remote stop of an exhausted
wallet on ``session.cost_updated``, settlement on ``session.priced``, and the worker that settles CDRs whose
event was lost and collects due card payments."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import anyio
from sqlalchemy import select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.ledger import Payment, PaymentCard
from voltbill.adapters.store.tables.registry import Driver
from voltbill.adapters.store.tables.sessions import CdrRow
from voltbill.domain.errors import VoltbillError
from voltbill.services import registry
from voltbill.services.card_holds import preauthorise_session
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import process_due_payments, settle_priced_session, settle_priced_sessions
from voltbill.services.wallet import auto_top_up, wallet_exhausted, wallet_start_refusal

log = logging.getLogger(__name__)


def _payment_method(uow: UnitOfWork, driver_id: str | None) -> str | None:
    if driver_id is None:
        return None
    driver = registry.get_driver(uow, driver_id)
    return None if driver is None else driver.payment_method


def _event_payment_method(ctx: PaymentsContext, event: Mapping[str, Any]) -> str | None:
    """The driver's payment method, as the event carries it (charging puts it there) or looked up."""
    if "payment_method" in event:
        return event["payment_method"]  # type: ignore[no-any-return]
    with ctx.db.read_uow() as uow:
        return _payment_method(uow, event.get("driver_id"))


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
    except RuntimeError:  # a worker thread (an event consumer): hand it to the connection's loop, do not wait
        charge_point = connections.get(cp_id)
        if charge_point is None:
            log.warning("%s to %s failed: the charge point is not connected", command, cp_id)
        else:
            pending = asyncio.run_coroutine_threadsafe(send(), charge_point.loop)
            thread_commands.add(pending)
            pending.add_done_callback(thread_commands.discard)
        return
    task = loop.create_task(send())
    ctx_tasks.add(task)
    task.add_done_callback(ctx_tasks.discard)


ctx_tasks: set[asyncio.Task[None]] = set()  # keeps fire-and-forget command tasks alive until done
thread_commands: set[concurrent.futures.Future[None]] = set()  # the same for commands handed over by threads


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
    if _event_payment_method(ctx, event) != "card":
        return
    with ctx.db.read_uow() as uow:
        currency = _tariff_currency(ctx, uow, str(event.get("charge_point_id")))

    def hold() -> None:
        session_id, driver_id = str(event["session_id"]), str(event["driver_id"])
        result = preauthorise_session(ctx, session_id, driver_id, event.get("id_token"), currency)
        if result.status == "declined":
            _stop_session(ctx, event, f"card pre-authorisation declined: {result.error}")

    ctx.in_background(hold)


def on_cost_updated(ctx: PaymentsContext, event: Mapping[str, Any]) -> None:
    """Stop a wallet driver's session when its running cost reaches the wallet balance."""
    if _event_payment_method(ctx, event) != "wallet":
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
    """One round of the background jobs: settle lost CDRs (when ``ctx.catch_up`` says), collect due card payments."""
    ctx.catch_up.run(lambda: settle_unsettled(ctx))
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
