"""Priced OCPI 2.2.1 CDRs for invoicing tests (shared by unit, documents and service tests)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from voltbill.domain.rounding import cdr_amount


def make_cdr(
    cdr_id: str,
    currency: str,
    costs: dict[str, tuple[str, str | None]],
    *,
    start: str = "2026-10-05T21:39:09Z",
    end: str = "2026-10-05T23:37:32Z",
    total_energy: str = "15.342",
    total_time: str = "1.973",
    total_parking_time: str = "0.25",
    total: tuple[str, str | None] | None = None,
) -> dict[str, Any]:
    """A priced CDR with dimension costs ``{type: (excl_vat, vat_percent)}``; incl. VAT at 4 decimals as a CDR."""
    keys = {"FLAT": "total_fixed_cost", "ENERGY": "total_energy_cost", "TIME": "total_time_cost"}
    keys["PARKING_TIME"] = "total_parking_cost"
    cdr: dict[str, Any] = {
        "id": cdr_id,
        "currency": currency,
        "start_date_time": start,
        "end_date_time": end,
        "cdr_location": {"name": "Gent Zuid", "address": "F.Rooseveltlaan 3A", "city": "Gent", "country": "BEL"},
        "total_energy": total_energy,
        "total_time": total_time,
        "total_parking_time": total_parking_time,
        "tariffs": [
            {
                "id": "T1",
                "currency": currency,
                "elements": [
                    {"price_components": [{"type": t, "price": "0.30", "vat": v, "step_size": 1}]}
                    for t, (_, v) in costs.items()
                ],
            }
        ],
    }
    excl_sum, incl_sum = Decimal(0), Decimal(0)
    for dimension, (excl, vat) in costs.items():
        incl = cdr_amount(Decimal(excl) * (1 + Decimal(vat or 0) / 100))
        cdr[keys[dimension]] = {"excl_vat": excl, "incl_vat": None if vat is None else str(incl)}
        excl_sum += Decimal(excl)
        incl_sum += incl
    excl_total, incl_total = total or (str(excl_sum), str(incl_sum))
    cdr["total_cost"] = {"excl_vat": excl_total, "incl_vat": incl_total}
    return cdr
