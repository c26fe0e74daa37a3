"""Invoices as JSON (REST answers and the stored document): decimal strings, RFC 3339 UTC times."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from voltbill.domain.invoices import Invoice, InvoiceLine, SessionSummary
from voltbill.domain.vat import VatLine


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def invoice_to_json(invoice: Invoice) -> dict[str, Any]:
    """The contract's invoice object: ``number``, ``driver_id``, ``lines``, ``vat_breakdown``, totals, ``status``,
    ``cdr_ids``, plus the sessions it covers."""
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "operator_id": invoice.operator_id,
        "driver_id": invoice.driver_id,
        "currency": invoice.currency,
        "period": invoice.period,
        "credits": invoice.credits,
        "issued_at": _t(invoice.issued_at),
        "cdr_ids": list(invoice.cdr_ids),
        "sessions": [
            {
                "cdr_id": s.cdr_id,
                "session_id": s.session_id,
                "charge_point_id": s.charge_point_id,
                "location": dict(s.location),
                "evse_id": s.evse_id,
                "start_date_time": _t(s.start),
                "end_date_time": _t(s.end),
                "time_zone": s.time_zone,
                "duration_s": s.duration_s,
                "total_energy": str(s.energy_kwh),
                "tariff_ids": list(s.tariff_ids),
                "tariff_components": [dict(c) for c in s.tariff_components],
                "net": str(s.net),
                "gross": str(s.gross),
            }
            for s in invoice.sessions
        ],
        "lines": [
            {
                "cdr_id": line.cdr_id,
                "dimension": line.dimension,
                "volume": str(line.volume),
                "unit": line.unit,
                "unit_price": _s(line.unit_price),
                "vat_rate": _s(line.vat_rate),
                "net": str(line.net),
            }
            for line in invoice.lines
        ],
        "vat_breakdown": [{"rate": _s(v.rate), "base": str(v.base), "vat": str(v.vat)} for v in invoice.vat],
        "totals": {
            "excl_vat": str(invoice.net_total),
            "vat": str(invoice.vat_total),
            "incl_vat": str(invoice.gross_total),
        },
    }


def invoice_from_json(data: dict[str, Any]) -> Invoice:
    """The inverse of ``invoice_to_json``."""
    return Invoice(
        kind=data["kind"],
        operator_id=data["operator_id"],
        driver_id=data["driver_id"],
        currency=data["currency"],
        sessions=tuple(
            SessionSummary(
                cdr_id=s["cdr_id"],
                session_id=s["session_id"],
                charge_point_id=s["charge_point_id"],
                location=s["location"],
                evse_id=s["evse_id"],
                start=datetime.fromisoformat(s["start_date_time"]),
                end=datetime.fromisoformat(s["end_date_time"]),
                time_zone=s["time_zone"],
                energy_kwh=Decimal(s["total_energy"]),
                tariff_ids=tuple(s["tariff_ids"]),
                tariff_components=tuple(s["tariff_components"]),
                net=Decimal(s["net"]),
                gross=Decimal(s["gross"]),
            )
            for s in data["sessions"]
        ),
        lines=tuple(
            InvoiceLine(
                cdr_id=line["cdr_id"],
                dimension=line["dimension"],
                volume=Decimal(line["volume"]),
                unit=line["unit"],
                unit_price=_d(line["unit_price"]),
                vat_rate=_d(line["vat_rate"]),
                net=Decimal(line["net"]),
            )
            for line in data["lines"]
        ),
        vat=tuple(VatLine(_d(v["rate"]), Decimal(v["base"]), Decimal(v["vat"])) for v in data["vat_breakdown"]),
        net_total=Decimal(data["totals"]["excl_vat"]),
        vat_total=Decimal(data["totals"]["vat"]),
        gross_total=Decimal(data["totals"]["incl_vat"]),
        period=data["period"],
        credits=data["credits"],
        number=data["number"],
        issued_at=None if data["issued_at"] is None else datetime.fromisoformat(data["issued_at"]),
        status=data["status"],
    )
