"""Turn an invoice into the pre-formatted strings its template prints (Babel: money, numbers, dates by locale)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from voltbill.adapters.documents.branding import Branding
from voltbill.adapters.documents.labels import babel_locale, labels_for
from voltbill.domain.invoices import Invoice, SessionSummary


def _money(amount: Decimal, currency: str, locale: Locale) -> str:
    return format_currency(amount, currency, locale=locale, currency_digits=True)


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d} h"


def _tariff(session: SessionSummary, currency: str, locale: Locale, labels: dict[str, str]) -> str:
    parts = []
    for c in session.tariff_components:
        unit = {"ENERGY": "/kWh", "TIME": "/h", "PARKING_TIME": "/h", "FLAT": ""}.get(str(c["type"]), "")
        price = format_currency(Decimal(str(c["price"])), currency, locale=locale, currency_digits=False)
        parts.append(f"{labels.get(str(c['type']), str(c['type']))} {price}{unit}")
    ids = ", ".join(session.tariff_ids)
    return f"{ids}: " + " · ".join(parts) if parts else ids


def template_data(
    invoice: Invoice, branding: Branding, buyer: dict[str, Any], locale_name: str | None
) -> dict[str, Any]:
    """The JSON document the Typst template renders."""
    locale = babel_locale(locale_name)
    labels = labels_for(locale)
    cur = invoice.currency
    issued = invoice.issued_at
    meta = [[labels["number"], invoice.number or "—"]]
    if issued is not None:
        meta.append([labels["date"], format_date(issued, "medium", locale=locale)])
    if invoice.period:
        meta.append([labels["period"], invoice.period])
    if invoice.credits:
        meta.append([labels["credits"], invoice.credits])
    if invoice.driver_id:
        meta.append([labels["customer"], invoice.driver_id])

    def rate(value: Decimal | None) -> str:
        return labels["no_vat"] if value is None else format_percent(value / 100, "#,##0.##%", locale=locale)

    sessions = []
    for s in invoice.sessions:
        tz = s.local(s.start).tzinfo
        place = ", ".join(x for x in (s.location.get("name"), s.location.get("address"), s.location.get("city")) if x)
        sessions.append(
            {
                "location": place or "—",
                "charger": " / ".join(x for x in (s.charge_point_id, s.evse_id) if x) or "—",
                "start": format_datetime(s.start, "medium", tzinfo=tz, locale=locale) + f" ({s.time_zone})",
                "end": format_datetime(s.end, "medium", tzinfo=tz, locale=locale),
                "duration": _duration(s.duration_s),
                "energy": format_decimal(s.energy_kwh, "#,##0.000", locale=locale) + " kWh",
                "tariff": _tariff(s, cur, locale, labels) or "—",
            }
        )
    lines = [
        {
            "description": labels.get(line.dimension, line.dimension),
            "quantity": f"{format_decimal(line.volume, '#,##0.###', locale=locale)} {labels.get(line.unit, line.unit)}",
            "unit_price": "—"
            if line.unit_price is None
            else format_currency(line.unit_price, cur, locale=locale, currency_digits=False),
            "vat_rate": rate(line.vat_rate),
            "net": _money(line.net, cur, locale),
        }
        for line in invoice.lines
    ]
    return {
        "lang": locale.language,
        "title": labels[invoice.kind],
        "number": invoice.number or "",
        "color": branding.color,
        "logo": "",
        "footer": branding.footer or branding.legal_name,
        "seller": {
            "name": branding.legal_name,
            "lines": list(branding.address),
            "vat_id": branding.vat_id,
        },
        "buyer": [x for x in (buyer.get("name"), *buyer.get("lines", ()), buyer.get("email")) if x],
        "meta": meta,
        "labels": labels,
        "sessions": sessions,
        "lines": lines,
        "vat": [
            {"rate": rate(v.rate), "base": _money(v.base, cur, locale), "vat": _money(v.vat, cur, locale)}
            for v in invoice.vat
        ],
        "totals": {
            "net": _money(invoice.net_total, cur, locale),
            "vat": _money(invoice.vat_total, cur, locale),
            "gross": _money(invoice.gross_total, cur, locale),
        },
    }
