"""Invoices, receipts, monthly statements and credit notes, built from priced OCPI 2.2.1 CDRs.

A document is a draft (``number is None``) until ``finalise`` gives it a number; after that it never changes and is
corrected only by a credit note (``credit_note_for``). Amounts follow the rule in ``domain.vat``: every session's
totals equal its CDR's totals rounded to the minor unit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voltbill.domain.clock import ensure_utc
from voltbill.domain.errors import Conflict, InvalidInput
from voltbill.domain.money import Money, check_currency
from voltbill.domain.rounding import invoice_line
from voltbill.domain.vat import VatLine, allocate, merge_vat_lines, vat_breakdown

KINDS = ("invoice", "receipt", "statement", "credit_note")
# OCPI 2.2.1 mod_cdrs, CDR object: the cost total of each price dimension and the volume it is billed on.
_DIMENSIONS = (
    ("FLAT", "total_fixed_cost", "session"),
    ("ENERGY", "total_energy_cost", "kWh"),
    ("TIME", "total_time_cost", "h"),
    ("PARKING_TIME", "total_parking_cost", "h"),
)
ADJUSTMENT = "ADJUSTMENT"  # min_price / max_price of the tariff (OCPI 2.2.1 mod_tariffs, Tariff object)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One billed price dimension of one session.

    Attributes: ``cdr_id``, ``dimension`` (OCPI ``FLAT``/``ENERGY``/``TIME``/``PARKING_TIME`` or ``ADJUSTMENT``),
    ``volume`` (sessions, kWh or hours), ``unit``, ``unit_price`` (excl. VAT, from the tariff; ``None`` when the
    tariff has several prices for the dimension), ``vat_rate`` (percent, ``None`` = not stated), ``net``
    (excl. VAT, minor unit).
    """

    cdr_id: str
    dimension: str
    volume: Decimal
    unit: str
    unit_price: Decimal | None
    vat_rate: Decimal | None
    net: Decimal


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What the invoice shows about one charging session.

    Attributes: ``cdr_id``, ``session_id``, ``charge_point_id``, ``location`` (name, address, city, postal_code,
    country), ``evse_id``, ``start``/``end`` (aware UTC), ``time_zone`` (IANA, for printing local times),
    ``energy_kwh``, ``tariff_ids``, ``tariff_components`` (type, price excl. VAT, vat percent, step_size),
    ``net``/``gross`` (this session's totals at the minor unit).
    """

    cdr_id: str
    session_id: str | None
    charge_point_id: str | None
    location: Mapping[str, str]
    evse_id: str | None
    start: datetime
    end: datetime
    time_zone: str
    energy_kwh: Decimal
    tariff_ids: tuple[str, ...]
    tariff_components: tuple[Mapping[str, str | None], ...]
    net: Decimal
    gross: Decimal

    @property
    def duration_s(self) -> int:
        return int((self.end - self.start).total_seconds())

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the location's time zone (invoices print local time)."""
        return moment.astimezone(ZoneInfo(self.time_zone))


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice document. ``number``/``issued_at`` are ``None`` while it is a draft.

    Attributes: ``kind`` (invoice, receipt, statement, credit_note), ``operator_id``, ``driver_id`` (``None`` for
    an ad-hoc receipt), ``currency``, ``period`` (``YYYY-MM`` for statements), ``sessions``, ``lines``, ``vat``
    (breakdown per rate), ``net_total``/``vat_total``/``gross_total`` (minor unit), ``credits`` (number of the
    invoice a credit note corrects), ``status`` (draft, issued, void, credited).
    """

    kind: str
    operator_id: str
    driver_id: str | None
    currency: str
    sessions: tuple[SessionSummary, ...]
    lines: tuple[InvoiceLine, ...]
    vat: tuple[VatLine, ...]
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    period: str | None = None
    credits: str | None = None
    number: str | None = None
    issued_at: datetime | None = None
    status: str = "draft"

    @property
    def cdr_ids(self) -> tuple[str, ...]:
        return tuple(s.cdr_id for s in self.sessions)


def finalise(draft: Invoice, number: str, issued_at: datetime) -> Invoice:
    """The issued form of ``draft``: numbered and immutable from now on."""
    if draft.number is not None:
        raise Conflict(f"invoice {draft.number} is already issued", code="invoice_already_issued")
    return dataclasses.replace(draft, number=number, issued_at=ensure_utc(issued_at), status="issued")


def _dec(value: Any, field: str) -> Decimal:
    """A JSON number or decimal string as Decimal. JSON floats are read through their shortest text form, which is
    what the JSON document said; nothing here computes with floats."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput("expected a decimal number", field=field)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(value) if isinstance(value, (int, str)) else Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(f"{value!r} is not a decimal number", field=field) from None


def _price(cdr: Mapping[str, Any], key: str) -> tuple[Decimal, Decimal | None] | None:
    price = cdr.get(key)
    if price is None:
        return None
    excl = _dec(price.get("excl_vat"), f"$.{key}.excl_vat")
    incl = price.get("incl_vat")
    return excl, (None if incl is None else _dec(incl, f"$.{key}.incl_vat"))


def _time(cdr: Mapping[str, Any], key: str) -> datetime:
    try:
        return ensure_utc(datetime.fromisoformat(str(cdr[key])))
    except (KeyError, ValueError):
        raise InvalidInput("expected an RFC 3339 date-time with time zone", field=f"$.{key}") from None


def _components(cdr: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for tariff in cdr.get("tariffs") or []:
        for element in tariff.get("elements") or []:
            found.extend(element.get("price_components") or [])
    return found


def _rate(
    components: Sequence[Mapping[str, Any]], dimension: str, excl: Decimal, incl: Decimal | None
) -> Decimal | None:
    """The VAT percent of a dimension: the tariff's, when its components agree; otherwise implied by the CDR."""
    if incl is None:
        return None
    rates = {_dec(c["vat"], "vat") for c in components if c.get("type") == dimension and c.get("vat") is not None}
    if len(rates) == 1:
        return rates.pop()
    if excl == 0:
        return Decimal(0)
    # A VAT percentage implied by the CDR (not money, so not a rounding.py rule): two decimals, e.g. 5.5 or 19.
    return ((incl - excl) * 100 / excl).quantize(Decimal("0.01")).normalize()


def _unit_price(components: Sequence[Mapping[str, Any]], dimension: str, unit: str) -> Decimal | None:
    prices = {_dec(c["price"], "price") for c in components if c.get("type") == dimension}
    if len(prices) != 1:
        return None
    price = prices.pop()
    # OCPI prices TIME and PARKING_TIME per hour, ENERGY per kWh, FLAT per session: the units the lines use.
    return price if unit in ("h", "kWh", "session") else None


def _time_zone(cdr: Mapping[str, Any], time_zone: str | None) -> str:
    name = time_zone or (cdr.get("cdr_location") or {}).get("time_zone") or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{name!r} is not an IANA time zone", field="time_zone") from None
    return str(name)


def session_part(
    cdr: Mapping[str, Any], *, time_zone: str | None = None, charge_point_id: str | None = None
) -> tuple[SessionSummary, tuple[InvoiceLine, ...], tuple[VatLine, ...]]:
    """The summary, lines and VAT breakdown of one priced CDR, its totals rounded by the rule in ``domain.vat``."""
    currency = check_currency(str(cdr.get("currency")), "$.currency")
    cdr_id = str(cdr.get("id"))
    total = _price(cdr, "total_cost")
    if total is None:
        raise InvalidInput("a priced CDR needs total_cost", field="$.total_cost")
    net_total = invoice_line(Money(total[0], currency)).amount
    gross_total = net_total if total[1] is None else invoice_line(Money(total[1], currency)).amount
    components = _components(cdr)
    total_time = _dec(cdr.get("total_time", 0), "$.total_time")
    parking = _dec(cdr.get("total_parking_time", 0) or 0, "$.total_parking_time")
    volumes = {
        "FLAT": Decimal(1),
        "ENERGY": _dec(cdr.get("total_energy", 0), "$.total_energy"),
        "TIME": total_time - parking,  # OCPI total_time includes parking; TIME is billed on charging time
        "PARKING_TIME": parking,
    }
    raw: list[tuple[str, Decimal, str, Decimal | None, Decimal | None, Decimal, Decimal]] = []
    for dimension, key, unit in _DIMENSIONS:
        price = _price(cdr, key)
        if price is None or (price[0] == 0 and (price[1] or 0) == 0):
            continue
        excl, incl = price
        rate = _rate(components, dimension, excl, incl)
        tax = Decimal(0) if incl is None else incl - excl
        raw.append((dimension, volumes[dimension], unit, _unit_price(components, dimension, unit), rate, excl, tax))
    rest = total[0] - sum((r[5] for r in raw), Decimal(0))
    if rest != 0 or not raw:
        rate = max(raw, key=lambda r: r[5])[4] if raw else _rate([], ADJUSTMENT, total[0], total[1])
        rest_vat = Decimal(0) if total[1] is None else (total[1] - total[0]) - sum((r[6] for r in raw), Decimal(0))
        raw.append((ADJUSTMENT, Decimal(1), "session", None, rate, rest, rest_vat))
    nets = allocate([r[5] for r in raw], net_total, currency)
    lines = tuple(
        InvoiceLine(cdr_id, dim, vol, unit, unit_price, rate, net)
        for (dim, vol, unit, unit_price, rate, _, _), net in zip(raw, nets, strict=True)
    )
    vat = vat_breakdown([r[4] for r in raw], nets, [r[6] for r in raw], gross_total - net_total, currency)
    location = cdr.get("cdr_location") or {}
    summary = SessionSummary(
        cdr_id=cdr_id,
        session_id=cdr.get("session_id"),
        charge_point_id=charge_point_id or location.get("charge_point_id"),
        location={
            k: str(location[k]) for k in ("name", "address", "city", "postal_code", "country") if location.get(k)
        },
        evse_id=location.get("evse_id"),
        start=_time(cdr, "start_date_time"),
        end=_time(cdr, "end_date_time"),
        time_zone=_time_zone(cdr, time_zone),
        energy_kwh=volumes["ENERGY"],
        tariff_ids=tuple(str(t.get("id")) for t in cdr.get("tariffs") or []),
        tariff_components=tuple(
            {
                "type": str(c.get("type")),
                "price": str(_dec(c.get("price"), "price")),
                "vat": None if c.get("vat") is None else str(_dec(c["vat"], "vat")),
                "step_size": None if c.get("step_size") is None else str(c["step_size"]),
            }
            for c in components
        ),
        net=net_total,
        gross=gross_total,
    )
    return summary, lines, vat


def _document(
    kind: str,
    operator_id: str,
    driver_id: str | None,
    currency: str,
    parts: Sequence[tuple[SessionSummary, tuple[InvoiceLine, ...], tuple[VatLine, ...]]],
    period: str | None = None,
) -> Invoice:
    if kind not in KINDS:
        raise InvalidInput(f"unknown invoice kind {kind!r}", field="kind")
    vat = merge_vat_lines([p[2] for p in parts])
    net = sum((p[0].net for p in parts), Decimal(0))
    gross = sum((p[0].gross for p in parts), Decimal(0))
    return Invoice(
        kind=kind,
        operator_id=operator_id,
        driver_id=driver_id,
        currency=currency,
        sessions=tuple(p[0] for p in parts),
        lines=tuple(line for p in parts for line in p[1]),
        vat=vat,
        net_total=net,
        vat_total=gross - net,
        gross_total=gross,
        period=period,
    )


def session_invoice(
    cdr: Mapping[str, Any],
    *,
    operator_id: str,
    driver_id: str | None,
    receipt: bool = False,
    time_zone: str | None = None,
    charge_point_id: str | None = None,
) -> Invoice:
    """A draft invoice (or ad-hoc receipt) for one priced CDR."""
    part = session_part(cdr, time_zone=time_zone, charge_point_id=charge_point_id)
    kind = "receipt" if receipt else "invoice"
    return _document(kind, operator_id, driver_id, str(cdr["currency"]), [part])


def monthly_statements(
    cdrs: Sequence[Mapping[str, Any]],
    *,
    operator_id: str,
    driver_id: str,
    period: str,
    time_zones: Mapping[str, str] | None = None,
    charge_points: Mapping[str, str] | None = None,
) -> list[Invoice]:
    """Draft statements for a post-paid driver's month: one per currency, sessions in start order.
    ``time_zones`` and ``charge_points`` map CDR ids to the station's zone and charge point id."""
    by_currency: dict[str, list[tuple[SessionSummary, tuple[InvoiceLine, ...], tuple[VatLine, ...]]]] = {}
    for cdr in cdrs:
        cdr_id = str(cdr.get("id"))
        tz, cp = (time_zones or {}).get(cdr_id), (charge_points or {}).get(cdr_id)
        part = session_part(cdr, time_zone=tz, charge_point_id=cp)
        by_currency.setdefault(check_currency(str(cdr.get("currency")), "$.currency"), []).append(part)
    return [
        _document("statement", operator_id, driver_id, currency, sorted(parts, key=lambda p: p[0].start), period)
        for currency, parts in sorted(by_currency.items())
    ]


def credit_note_for(invoice: Invoice) -> Invoice:
    """A draft credit note that cancels ``invoice`` in full (negated lines, VAT and totals)."""
    if invoice.status != "issued" or invoice.kind == "credit_note" or invoice.number is None:
        raise Conflict(
            f"invoice {invoice.number or '(draft)'} is {invoice.status} and cannot be credited; "
            "only issued invoices, receipts and statements can",
            code="invoice_not_creditable",
        )
    return dataclasses.replace(
        invoice,
        kind="credit_note",
        sessions=tuple(dataclasses.replace(s, net=-s.net, gross=-s.gross) for s in invoice.sessions),
        lines=tuple(dataclasses.replace(line, net=-line.net) for line in invoice.lines),
        vat=tuple(VatLine(v.rate, -v.base, -v.vat) for v in invoice.vat),
        net_total=-invoice.net_total,
        vat_total=-invoice.vat_total,
        gross_total=-invoice.gross_total,
        credits=invoice.number,
        number=None,
        issued_at=None,
        status="draft",
    )
