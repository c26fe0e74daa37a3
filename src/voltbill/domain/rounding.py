"""The one place where money is rounded. Each rule has a name; nothing else calls ``quantize``.

- ``cdr_amount``: 4 decimals, half up, for the amounts inside an OCPI CDR (as ocpi-tariffs does), so that a CDR's
  totals keep sub-cent precision for roaming partners.
- ``invoice_line``: the currency's minor unit (ISO 4217), half up; applied to totals people pay, never to
  intermediate sums.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from voltbill.domain.money import Money, minor_units

_CDR_QUANTUM = Decimal("0.0001")


def cdr_amount(amount: Decimal) -> Decimal:
    """Round a CDR amount to 4 decimals, half up."""
    return amount.quantize(_CDR_QUANTUM, rounding=ROUND_HALF_UP)


def invoice_line(money: Money) -> Money:
    """Round to the currency's minor unit, half up (EUR 1.005 -> 1.01, JPY 10.5 -> 11)."""
    quantum = Decimal(1).scaleb(-minor_units(money.currency))
    return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), money.currency)
