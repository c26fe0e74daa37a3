"""The priced session as an OCPI 2.2.1 CDR (mod_cdrs, CDR object). Amounts are rounded here, by ``cdr_amount``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from voltbill.domain.price import Price
from voltbill.domain.pricing.ocpi_json import format_datetime
from voltbill.domain.pricing.periods import SessionToPrice, periods_json
from voltbill.domain.pricing.pricer import PricedSession
from voltbill.domain.rounding import cdr_amount
from voltbill.domain.tariffs import Tariff

# Fields pricing computes; the same fields in ``extra`` (e.g. totals of an input CDR) are ignored.
PRICED_FIELDS = frozenset(
    {
        "id", "start_date_time", "end_date_time", "currency", "tariffs", "charging_periods", "total_cost",
        "total_fixed_cost", "total_energy", "total_energy_cost", "total_time", "total_time_cost",
        "total_parking_time", "total_parking_cost", "total_reservation_cost",
    }
)  # fmt: skip


def build_cdr(
    priced: PricedSession,
    tariff: Tariff,
    session: SessionToPrice,
    *,
    cdr_id: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An OCPI 2.2.1 CDR for ``session`` priced by ``tariff``, rounded to 4 decimals (``rounding.cdr_amount``) from
    the full-precision totals. Volumes (``total_energy``, ``total_time``, ``total_parking_time``, period
    ``volume``) are ``Decimal`` and become JSON numbers through ``json_text.dumps``; amounts are decimal strings.

    ``extra`` adds the fields pricing does not know (``cdr_location``, ``cdr_token``, ``auth_method``,
    ``session_id``, ``country_code``, ``party_id``, ``last_updated``, ...).
    """
    extra = extra or {}
    cdr: dict[str, Any] = {}
    if tariff.country_code is not None:
        cdr["country_code"] = tariff.country_code
    if tariff.party_id is not None:
        cdr["party_id"] = tariff.party_id
    cdr["id"] = cdr_id
    cdr["start_date_time"] = format_datetime(session.start_date_time)
    cdr["end_date_time"] = format_datetime(session.end_date_time)
    cdr.update((key, value) for key, value in extra.items() if key not in PRICED_FIELDS)
    cdr["currency"] = priced.currency
    cdr["tariffs"] = [tariff.to_ocpi()]
    cdr["charging_periods"] = periods_json(session.charging_periods, tariff.id or None)
    cdr["total_cost"] = price_json(priced.total_cost)
    _put_price(cdr, "total_fixed_cost", priced.total_fixed_cost)
    cdr["total_energy"] = cdr_amount(priced.total_energy)
    _put_price(cdr, "total_energy_cost", priced.total_energy_cost)
    cdr["total_time"] = cdr_amount(priced.total_time)
    _put_price(cdr, "total_time_cost", priced.total_time_cost)
    cdr["total_parking_time"] = cdr_amount(priced.total_parking_time)
    _put_price(cdr, "total_parking_cost", priced.total_parking_cost)
    _put_price(cdr, "total_reservation_cost", priced.total_reservation_cost)
    cdr.setdefault("last_updated", format_datetime(session.end_date_time))
    return cdr


def price_json(price: Price) -> dict[str, str | None]:
    """An OCPI Price object rounded for a CDR: ``{"excl_vat": "4.0000", "incl_vat": "4.4000" | None}``."""
    incl = None if price.incl_vat is None else _amount(price.incl_vat)
    return {"excl_vat": _amount(price.excl_vat), "incl_vat": incl}


def _put_price(cdr: dict[str, Any], key: str, price: Price | None) -> None:
    if price is not None:
        cdr[key] = price_json(price)


def _amount(value: Decimal) -> str:
    return str(cdr_amount(value))
