"""Card holds (pre-authorisations): at session start for card drivers, before the session for the pay page.

A hold is a payment row with status ``authorised`` (or ``declined``); settlement later captures it. A hold made
for an id token before its session exists (the pay page) is bound to the session when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from voltbill.adapters.payments.port import GatewayUnavailable, PaymentDeclined
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.money import Money, check_currency
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import card_on_file, new_payment, payment_id_for, process_payment


@dataclass(frozen=True, slots=True)
class Hold:
    """A card pre-authorisation: ``payment_id``, ``status`` (``authorised``/``declined``), ``amount`` held."""

    payment_id: str
    status: str
    amount: Decimal | None
    error: str | None = None


def _hold(row: Payment) -> Hold:
    return Hold(row.id, row.status, row.authorised_amount, row.last_error)


def preauthorise_session(
    ctx: PaymentsContext, session_id: str, driver_id: str, id_token: str | None, currency: str | None = None
) -> Hold:
    """Hold ``preauth_amount`` on the driver's card for a starting session (once per session).

    Returns the hold (status ``authorised`` or ``declined``). A hold made by the pay page for this id token
    (before the session existed) is bound to the session instead of making a second one.
    """
    currency = check_currency(currency or ctx.config.default_currency)
    with ctx.db.uow() as uow:
        row = uow.session.execute(select(Payment).where(Payment.session_id == session_id)).scalar_one_or_none()
        if row is None and id_token:
            row = uow.session.execute(
                select(Payment).where(
                    Payment.id_token == id_token, Payment.session_id.is_(None), Payment.status == "authorised"
                )
            ).scalar_one_or_none()
            if row is not None:
                row.session_id = session_id
                uow.commit()
                return _hold(row)
        if row is not None:
            return _hold(row)
    return _authorise(
        ctx, payment_id_for("session_payment", session_id=session_id), driver_id, session_id, id_token, currency
    )


def preauthorise_token(ctx: PaymentsContext, driver_id: str, id_token: str, currency: str) -> Hold:
    """Hold ``preauth_amount`` for a session not started yet (the pay page), bound to it by its id token."""
    pid = payment_id_for("token_payment", id_token=id_token)
    return _authorise(ctx, pid, driver_id, None, id_token, check_currency(currency))


def release_hold(ctx: PaymentsContext, payment_id: str) -> str | None:
    """Release a hold whose session never started (the charger refused or was offline): cancel it now."""
    with ctx.db.uow() as uow:
        row = uow.session.get(Payment, payment_id, with_for_update=True)
        if row is None or row.status != "authorised" or row.session_id is not None:
            return None
        row.status, row.amount, row.next_attempt_at = "capture_pending", Decimal(0), ctx.clock.now()
        uow.commit()
    return process_payment(ctx, payment_id)


def _authorise(
    ctx: PaymentsContext, pid: str, driver_id: str, session_id: str | None, id_token: str | None, currency: str
) -> Hold:
    with ctx.db.uow() as uow:
        existing = uow.session.get(Payment, pid)
        if existing is not None:
            return _hold(existing)
        card = card_on_file(uow, driver_id)
    amount = Money(ctx.config.preauth_amount, currency)
    status, ref, error = "authorised", None, None
    if card is None:
        status, error = "declined", "no card on file"
    else:
        try:
            ref = ctx.gateway.authorize(
                card.customer_id, card.payment_method_id, amount, key=idempotency_key("preauth", payment_id=pid)
            )
        except (PaymentDeclined, GatewayUnavailable) as exc:
            status, error = "declined", exc.message
    with ctx.db.uow() as uow:
        existing = uow.session.get(Payment, pid)
        if existing is not None:
            return _hold(existing)
        row = new_payment(
            ctx,
            id=pid,
            kind="session",
            driver_id=driver_id,
            session_id=session_id,
            id_token=id_token,
            payment_method="card",
            provider=ctx.gateway.name,
            provider_ref=ref,
            currency=currency,
            authorised_amount=amount.amount if ref else None,
            status=status,
            last_error=error,
        )
        uow.session.add(row)
        uow.commit()
        return _hold(row)
