"""Revenue from priced sessions (CDR totals), per local day/week/month and optionally per location, tariff or
payment method, with growth against the previous period. Sums are exact decimals, per currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.domain.rounding import cdr_amount

Period = Literal["day", "week", "month"]
RevenueBy = Literal["total", "location", "tariff", "payment_method"]

_KEYS = {"total": "'total'", "location": "s.location_id", "tariff": "s.tariff_id", "payment_method": "s.payment_method"}


@dataclass(frozen=True)
class RevenueRow:
    """Revenue of one ``period_start`` (local date opening the day/ISO week/month) and ``key``, in ``currency``.

    ``revenue_excl_vat``/``revenue_incl_vat`` are sums of CDR totals (``incl`` is None when any session lacks
    VAT information); ``per_kwh``/``per_session`` average revenue excl. VAT (4 decimals, ``cdr_amount``);
    ``growth_pct`` change of ``revenue_excl_vat`` against the previous period of the same key (None when that
    period had no revenue).
    """

    period_start: date
    key: str
    currency: str
    sessions: int
    kwh: Decimal
    revenue_excl_vat: Decimal
    revenue_incl_vat: Decimal | None
    per_kwh: Decimal | None
    per_session: Decimal
    growth_pct: float | None


_SQL = """
SELECT date_trunc('{period}', s.start_local)::DATE AS period_start, coalesce({key}, 'unknown') AS key, s.currency,
       count(*) AS sessions, sum(s.kwh) AS kwh, sum(s.total_cost_excl_vat) AS excl,
       CASE WHEN count(s.total_cost_incl_vat) = count(*) THEN sum(s.total_cost_incl_vat) END AS incl
FROM sessions s
WHERE {cond} AND s.currency IS NOT NULL AND s.total_cost_excl_vat IS NOT NULL
GROUP BY ALL ORDER BY key, s.currency, period_start
"""


def revenue(
    engine: AnalyticsEngine, filters: Filters, period: Period = "day", by: RevenueBy = "total"
) -> list[RevenueRow]:
    """Revenue rows ordered by key, currency and period."""
    if period not in ("day", "week", "month") or by not in _KEYS:
        raise ValueError(f"unknown revenue grouping {period!r}/{by!r}")
    cond, params = filters.where()
    rows: list[RevenueRow] = []
    previous: dict[tuple[str, str], tuple[date, Decimal]] = {}
    for start, key, currency, n, kwh, excl, incl in engine.rows(
        _SQL.format(period=period, key=_KEYS[by], cond=cond), params
    ):
        prior = previous.get((key, currency))
        growth = None
        if prior is not None and prior[0] == _previous_period(start, period) and prior[1] != 0:
            growth = float((excl - prior[1]) / prior[1] * 100)
        previous[(key, currency)] = (start, excl)
        rows.append(
            RevenueRow(
                period_start=start,
                key=key,
                currency=currency,
                sessions=n,
                kwh=kwh,
                revenue_excl_vat=excl,
                revenue_incl_vat=incl,
                per_kwh=cdr_amount(excl / kwh) if kwh else None,
                per_session=cdr_amount(excl / n),
                growth_pct=growth,
            )
        )
    return rows


def totals(rows: list[RevenueRow]) -> dict[str, Decimal]:
    """Revenue excl. VAT per currency over ``rows``."""
    sums: dict[str, Decimal] = {}
    for row in rows:
        sums[row.currency] = sums.get(row.currency, Decimal(0)) + row.revenue_excl_vat
    return sums


def _previous_period(start: date, period: Period) -> date:
    if period == "day":
        return start - timedelta(days=1)
    if period == "week":
        return start - timedelta(weeks=1)
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)
