"""Prepaid wallets: top-ups, balance, the start check, the remote stop when the money runs out, auto top-up.

A prepaid RFID charging card is a token of a ``wallet`` driver, so it spends that driver's wallet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from voltbill.adapters.payments.port import GatewayUnavailable, PaymentDeclined
from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.ledger_store import lock_account, post_transfer
from voltbill.adapters.store.tables.ledger import Payment, PaymentRequest, WalletSetting
from voltbill.domain.errors import Conflict, InvalidInput
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.ledger import WALLET, account
from voltbill.domain.money import Money, check_currency, minor_units
from voltbill.domain.rounding import invoice_line
from voltbill.domain.settlement import top_up
from voltbill.domain.wallet import auto_top_up_due, must_stop, start_refusal
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import card_on_file, payment_id_for, wallet_balance

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Wallet:
    """A driver's wallet: ``balance`` (Money) and the automatic top-up settings, if any."""

    driver_id: str
    balance: Money
    auto_top_up_threshold: Decimal | None = None
    auto_top_up_amount: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {"driver_id": self.driver_id, "balance": money_text(self.balance), "currency": self.balance.currency}


def money_text(money: Money) -> str:
    """An amount as a decimal string in the currency's minor unit (``"50.00"``); ledger amounts already are."""
    return str(invoice_line(money).amount)


def wallet_currency(uow: UnitOfWork, driver_id: str, default: str) -> str:
    setting = uow.session.get(WalletSetting, driver_id)
    return setting.currency if setting is not None else default


def get_wallet(uow: UnitOfWork, driver_id: str, default_currency: str) -> Wallet:
    """The wallet of ``driver_id`` (zero in the default currency if never topped up)."""
    setting = uow.session.get(WalletSetting, driver_id)
    currency = setting.currency if setting is not None else default_currency
    balance = wallet_balance(uow, driver_id, currency)
    if setting is None:
        return Wallet(driver_id, balance)
    return Wallet(driver_id, balance, setting.auto_top_up_threshold, setting.auto_top_up_amount)


def parse_amount(value: Any, currency: str, field: str = "amount") -> Money:
    """A positive amount in ``currency`` with at most the currency's minor-unit decimals (``"50.00"``)."""
    currency = check_currency(currency)
    try:
        amount = Decimal(str(value)) if isinstance(value, (str, int)) else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        raise InvalidInput(f'{field} must be a positive decimal string such as "50.00"', field=field)
    if -amount.as_tuple().exponent > minor_units(currency):  # type: ignore[operator]
        raise InvalidInput(f"{field} has more decimals than {currency} allows", field=field)
    return Money(amount, currency)


def _ensure_currency(uow: UnitOfWork, driver_id: str, currency: str) -> None:
    setting = uow.session.get(WalletSetting, driver_id)
    if setting is None:
        uow.session.add(WalletSetting(driver_id=driver_id, currency=currency))
        uow.session.flush()
    elif setting.currency != currency:
        raise Conflict(
            f"the wallet of {driver_id} is in {setting.currency}; top up in that currency",
            code="wallet_currency_mismatch",
            field="currency",
        )


def top_up_wallet(
    ctx: PaymentsContext, driver_id: str, amount: Money, request_key: str, source: str = "manual"
) -> dict[str, Any]:
    """Credit the wallet once per ``request_key`` and answer the new balance; a replay answers the first result.

    ``source``: ``manual`` (money received outside voltbill, e.g. at a desk) or ``card`` (charged to the card on file
    through the gateway before the wallet is credited).
    """
    if source not in ("manual", "card"):
        raise InvalidInput("source must be manual or card", field="source")
    key = idempotency_key("top_up", driver_id=driver_id, request=request_key)
    with ctx.db.uow() as uow:
        first = uow.session.get(PaymentRequest, key)
        if first is not None:
            return dict(first.response)
    provider = "manual"
    if source == "card":
        provider = ctx.gateway.name
        _charge_card_top_up(ctx, driver_id, amount, key)
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        first = uow.session.get(PaymentRequest, key)
        if first is not None:
            return dict(first.response)
        _ensure_currency(uow, driver_id, amount.currency)
        lock_account(uow, account(WALLET, driver_id), amount.currency)
        post_transfer(uow, top_up(key, driver_id, amount, provider), now)
        balance = wallet_balance(uow, driver_id, amount.currency)
        response = {
            "driver_id": driver_id,
            "top_up": {"amount": money_text(amount), "currency": amount.currency},
            "balance": money_text(balance),
            "currency": balance.currency,
        }
        uow.session.add(PaymentRequest(idempotency_key=key, response=response, created_at=now))
        uow.commit()
        return response


def _charge_card_top_up(ctx: PaymentsContext, driver_id: str, amount: Money, key: str) -> None:
    """Charge a top-up to the card on file and record the payment (raises ``PaymentDeclined``)."""
    pid = payment_id_for("top_up_payment", key=key)
    with ctx.db.uow() as uow:
        card = card_on_file(uow, driver_id)
    if card is None:
        raise Conflict(f"driver {driver_id} has no card on file", code="no_card_on_file", field="source")
    ref = ctx.gateway.charge(card.customer_id, card.payment_method_id, amount, key=key)
    now = ctx.clock.now()
    with ctx.db.uow() as uow:
        if uow.session.get(Payment, pid) is None:
            uow.session.add(
                Payment(
                    id=pid,
                    kind="top_up",
                    driver_id=driver_id,
                    payment_method="card",
                    provider=ctx.gateway.name,
                    provider_ref=ref,
                    currency=amount.currency,
                    amount=amount.amount,
                    captured_amount=amount.amount,
                    refunded_amount=Decimal(0),
                    status="captured",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            uow.commit()


def set_auto_top_up(
    ctx: PaymentsContext, driver_id: str, threshold: Money | None, amount: Money | None
) -> dict[str, Any]:
    """Set (or clear, with ``None``) the automatic card top-up of a driver's wallet."""
    if (threshold is None) != (amount is None):
        raise InvalidInput("threshold and amount are set together", field="threshold")
    with ctx.db.uow() as uow:
        currency = threshold.currency if threshold is not None else ctx.config.default_currency
        _ensure_currency(uow, driver_id, currency)
        setting = uow.session.get(WalletSetting, driver_id)
        assert setting is not None
        setting.auto_top_up_threshold = threshold.amount if threshold is not None else None
        setting.auto_top_up_amount = amount.amount if amount is not None else None
        uow.commit()
        return {
            "threshold": None if threshold is None else str(threshold.amount),
            "amount": None if amount is None else str(amount.amount),
            "currency": setting.currency,
        }


def auto_top_up(ctx: PaymentsContext, driver_id: str, trigger: str) -> dict[str, Any] | None:
    """Top up by card if the driver's balance is below their threshold; once per ``trigger`` (e.g. a CDR id)."""
    with ctx.db.uow() as uow:
        wallet = get_wallet(uow, driver_id, ctx.config.default_currency)
    threshold = wallet.auto_top_up_threshold
    if threshold is None or wallet.auto_top_up_amount is None:
        return None
    if not auto_top_up_due(wallet.balance, Money(threshold, wallet.balance.currency)):
        return None
    amount = Money(wallet.auto_top_up_amount, wallet.balance.currency)
    try:
        return top_up_wallet(ctx, driver_id, amount, f"auto-{trigger}", source="card")
    except (PaymentDeclined, GatewayUnavailable, Conflict) as exc:
        log.warning("automatic top-up of driver %s failed: %s", driver_id, exc)
        return None


def wallet_start_refusal(ctx: PaymentsContext, uow: UnitOfWork, driver_id: str) -> str | None:
    """Why a wallet driver may not start now (balance below ``wallet_minimum``), or None."""
    currency = wallet_currency(uow, driver_id, ctx.config.default_currency)
    balance = wallet_balance(uow, driver_id, currency)
    return start_refusal(balance, Money(ctx.config.wallet_minimum, currency))


def wallet_exhausted(ctx: PaymentsContext, driver_id: str, currency: str, live_total: Decimal) -> bool:
    """True when a running session's cost has reached the wallet balance (the session must stop)."""
    with ctx.db.uow() as uow:
        balance = wallet_balance(uow, driver_id, currency)
    return must_stop(balance, Money(live_total, currency))
