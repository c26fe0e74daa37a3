"""Invoice amounts: rounding lines to a given total, and the VAT breakdown per rate.

The invoice rounding rule (docs/invoicing.md, "Rounding"):

1. A session's totals are the CDR totals rounded by ``rounding.invoice_line`` (net = ``total_cost.excl_vat``,
   gross = ``total_cost.incl_vat``), so an invoice always equals its CDR to the minor unit.
2. Its lines (one per price dimension) are the CDR's dimension costs rounded by ``invoice_line``; if those rounded
   lines do not add up to the rounded net total, the difference (a few minor units at most) goes to the lines with
   the largest rounding remainders (largest-remainder method). Independent line rounding cannot guarantee
   ``sum(lines) == total``; this rule can, and moves each line by at most one minor unit.
3. VAT per rate is the CDR's VAT of that rate's lines, allocated the same way so the rates add up to
   gross - net exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from voltbill.domain.money import Money, minor_units
from voltbill.domain.rounding import invoice_line


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (EUR 0.01, JPY 1)."""
    return Decimal(1).scaleb(-minor_units(currency))


def allocate(exact: Sequence[Decimal], total: Decimal, currency: str) -> list[Decimal]:
    """Round ``exact`` amounts to the minor unit so that they add up to ``total`` (already rounded).

    Each amount is rounded by ``invoice_line``; the residual is spread one minor unit at a time over the amounts
    with the largest remainders (ties: the earlier amount), so no amount moves by more than needed.
    """
    if not exact:
        if total != 0:
            raise ValueError(f"cannot allocate {total} {currency} over no amounts")
        return []
    unit = minor_unit(currency)
    rounded = [invoice_line(Money(amount, currency)).amount for amount in exact]
    residual = int((total - sum(rounded, Decimal(0))) / unit)
    if residual == 0:
        return rounded
    step = unit if residual > 0 else -unit
    # Largest remainder first when adding, smallest first when taking away.
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - rounded[i]) * (1 if residual > 0 else -1), i))
    for n in range(abs(residual)):
        rounded[order[n % len(order)]] += step
    return rounded


@dataclass(frozen=True, slots=True)
class VatLine:
    """One VAT rate of an invoice: ``rate`` (percent; ``None`` = no VAT stated by the tariff), ``base`` (net
    amount taxed at this rate), ``vat`` (the tax). Amounts are in the invoice currency, at its minor unit."""

    rate: Decimal | None
    base: Decimal
    vat: Decimal


def vat_breakdown(
    rates: Sequence[Decimal | None],
    nets: Sequence[Decimal],
    exact_vats: Sequence[Decimal],
    vat_total: Decimal,
    currency: str,
) -> tuple[VatLine, ...]:
    """Group lines by VAT rate: bases are sums of the (rounded) line nets, VAT per rate is the lines' exact VAT
    allocated so the rates add up to ``vat_total``. Ordered by rate (no-VAT first)."""
    keys = sorted(set(rates), key=lambda r: Decimal(-1) if r is None else r)
    bases = [sum((n for r, n in zip(rates, nets, strict=True) if r == k), Decimal(0)) for k in keys]
    exact = [sum((v for r, v in zip(rates, exact_vats, strict=True) if r == k), Decimal(0)) for k in keys]
    vats = allocate(exact, vat_total, currency)
    return tuple(VatLine(rate=k, base=b, vat=v) for k, b, v in zip(keys, bases, vats, strict=True))


def merge_vat_lines(groups: Sequence[Sequence[VatLine]]) -> tuple[VatLine, ...]:
    """Add several breakdowns (one per session of a statement) rate by rate."""
    merged: dict[Decimal | None, tuple[Decimal, Decimal]] = {}
    for group in groups:
        for line in group:
            base, vat = merged.get(line.rate, (Decimal(0), Decimal(0)))
            merged[line.rate] = (base + line.base, vat + line.vat)
    keys = sorted(merged, key=lambda r: Decimal(-1) if r is None else r)
    return tuple(VatLine(rate=k, base=merged[k][0], vat=merged[k][1]) for k in keys)
