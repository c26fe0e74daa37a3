"""How money moves for charging: the transfers that top up, settle, capture, write off and refund.

Settling a session books the sale once: revenue and VAT payable are credited, and the driver's side is debited
according to the payment method. A wallet pays at once (what it cannot cover becomes debt, so a wallet never goes
negative); a card or an invoice leaves a receivable that a capture (card) or a statement (invoice) clears later.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from voltbill.domain.errors import InvalidInput
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.ledger import (
    CLEARING,
    DEBT,
    RECEIVABLE,
    REFUNDS,
    REVENUE,
    VAT_PAYABLE,
    WALLET,
    Transfer,
    account,
    make_transfer,
)
from voltbill.domain.money import D, Money
from voltbill.domain.rounding import invoice_line

PAYMENT_METHODS = ("wallet", "card", "invoice")


@dataclass(frozen=True, slots=True)
class SessionCharge:
    """What a driver pays for one session, in the currency's minor unit.

    Attributes: ``gross`` (incl. VAT, the amount paid), ``net`` (excl. VAT, revenue), ``vat`` (gross - net).
    """

    gross: Money
    net: Money

    @property
    def vat(self) -> Money:
        return self.gross - self.net


def session_charge(currency: str, excl_vat: str | Decimal, incl_vat: str | Decimal | None) -> SessionCharge:
    """The charge for a CDR ``total_cost``: ``incl_vat`` rounded to the minor unit (``excl_vat`` when VAT is
    unknown, OCPI 2.2.1 Price: incl_vat is optional), and its net part."""
    net = invoice_line(Money(D(excl_vat), currency))
    gross = net if incl_vat is None else invoice_line(Money(D(incl_vat), currency))
    if net.amount < 0 or gross.amount < net.amount:
        raise InvalidInput(f"total_cost {excl_vat}/{incl_vat} {currency} is not a payable amount", field="total_cost")
    return SessionCharge(gross, net)


def check_method(method: str) -> str:
    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"payment_method must be one of {', '.join(PAYMENT_METHODS)}", field="payment_method")
    return method


def settle_session(
    cdr_id: str, driver_id: str, method: str, charge: SessionCharge, wallet_balance: Money | None = None
) -> Transfer:
    """The settlement transfer of one priced session; its key is per CDR, so a CDR is settled once.

    ``wallet_balance`` (required for ``wallet``) caps the wallet debit; the rest is debited to the driver's debt.
    """
    check_method(method)
    gross = charge.gross
    if gross.is_zero():
        raise InvalidInput("a free session moves no money and needs no transfer", field="total_cost")
    if method == "wallet":
        if wallet_balance is None:
            raise InvalidInput("a wallet settlement needs the wallet balance", field="wallet_balance")
        covered = min(gross, wallet_balance) if wallet_balance.amount > 0 else Money.zero(gross.currency)
        debits = [(account(WALLET, driver_id), covered), (account(DEBT, driver_id), gross - covered)]
    else:
        debits = [(account(RECEIVABLE, driver_id), gross)]
    credits = [(account(REVENUE), charge.net), (account(VAT_PAYABLE), charge.vat)]
    return make_transfer(
        idempotency_key("settle", cdr_id=cdr_id),
        "settlement",
        debits=debits,
        credits=credits,
        driver_id=driver_id,
        reference=cdr_id,
    )


def top_up(key: str, driver_id: str, amount: Money, source: str) -> Transfer:
    """Money into a driver's wallet from ``source`` (a provider name such as ``stripe`` or ``manual``)."""
    if amount.amount <= 0:
        raise InvalidInput("a top-up amount must be positive", field="amount")
    return make_transfer(
        key,
        "top_up",
        debits=[(account(CLEARING, source), amount)],
        credits=[(account(WALLET, driver_id), amount)],
        driver_id=driver_id,
    )


def capture(key: str, driver_id: str, amount: Money, provider: str, payment_id: str) -> Transfer:
    """A card payment received: the provider owes voltbill the money, the driver's receivable is cleared."""
    return make_transfer(
        key,
        "capture",
        debits=[(account(CLEARING, provider), amount)],
        credits=[(account(RECEIVABLE, driver_id), amount)],
        driver_id=driver_id,
        reference=payment_id,
    )


def record_debt(key: str, driver_id: str, amount: Money, payment_id: str) -> Transfer:
    """A card payment that finally failed: the receivable becomes a debt the operator follows up."""
    return make_transfer(
        key,
        "debt",
        debits=[(account(DEBT, driver_id), amount)],
        credits=[(account(RECEIVABLE, driver_id), amount)],
        driver_id=driver_id,
        reference=payment_id,
    )


def refund(key: str, driver_id: str, method: str, amount: Money, payment_id: str, provider: str | None) -> Transfer:
    """Money given back for a settled session: to the card (provider clearing), the wallet, or off the receivable."""
    if amount.amount <= 0:
        raise InvalidInput("a refund amount must be positive", field="amount")
    if method == "card":
        if provider is None:
            raise InvalidInput("a card refund needs its provider", field="provider")
        credit_account = account(CLEARING, provider)
    elif method == "wallet":
        credit_account = account(WALLET, driver_id)
    else:
        credit_account = account(RECEIVABLE, driver_id)
    return make_transfer(
        key,
        "refund",
        debits=[(account(REFUNDS), amount)],
        credits=[(credit_account, amount)],
        driver_id=driver_id,
        reference=payment_id,
    )
