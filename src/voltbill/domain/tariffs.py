"""OCPI 2.2.1 Tariff (mod_tariffs): the model, its strict parser and the choice of the tariff in force.

Strict about everything that changes a price (components, restrictions, min/max price, validity); lenient about
identification (``country_code``, ``party_id``, ``last_updated``, ``id``), which only produce warnings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from voltbill.domain.errors import InvalidInput
from voltbill.domain.money import check_currency
from voltbill.domain.price import Price
from voltbill.domain.pricing.ocpi_json import Reader, format_datetime

DIMENSIONS = ("ENERGY", "FLAT", "PARKING_TIME", "TIME")
TARIFF_TYPES = ("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR")
DAYS_OF_WEEK = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
RESERVATION_TYPES = ("RESERVATION", "RESERVATION_EXPIRES")
# mod_tariffs, TariffRestrictions.start_time / start_date regexes.
_TIME_TEXT = re.compile(r"([0-1][0-9]|2[0-3]):[0-5][0-9]")
_DATE_TEXT = re.compile(r"([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_IDENTIFICATION = ("country_code", "party_id", "last_updated")


@dataclass(frozen=True, slots=True)
class PriceComponent:
    """``type`` (ENERGY/FLAT/PARKING_TIME/TIME), ``price`` per unit excl. VAT (per kWh, per hour, per session),
    ``vat`` (percent, ``None`` when unknown), ``step_size`` (Wh for ENERGY, seconds for TIME/PARKING_TIME)."""

    type: str
    price: Decimal
    vat: Decimal | None
    step_size: int


@dataclass(frozen=True, slots=True)
class TariffRestrictions:
    """When an element applies (all set fields must hold). Times/dates are station-local; ``*_kwh`` in kWh,
    ``*_current`` in A, ``*_power`` in kW, ``*_duration`` in seconds; ``end_date`` and ``max_*`` are exclusive."""

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: tuple[str, ...] = ()
    reservation: str | None = None


@dataclass(frozen=True, slots=True)
class TariffElement:
    """``price_components`` (at least one) and optional ``restrictions``."""

    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions | None = None


@dataclass(frozen=True, slots=True)
class DisplayText:
    """``language`` (ISO 639-1) and ``text``."""

    language: str
    text: str


@dataclass(frozen=True)
class Tariff:
    """An OCPI 2.2.1 Tariff object. Money in ``currency``; datetimes aware UTC; ``start_date_time`` inclusive,
    ``end_date_time`` exclusive."""

    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    type: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    tariff_alt_text: tuple[DisplayText, ...] = ()
    tariff_alt_url: str | None = None
    country_code: str | None = None
    party_id: str | None = None
    last_updated: datetime | None = None

    def has_vat(self) -> bool:
        """Whether any component states a VAT rate (otherwise prices incl. VAT are unknown)."""
        return any(c.vat is not None for e in self.elements for c in e.price_components)

    def to_ocpi(self) -> dict[str, Any]:
        """The tariff as OCPI JSON; numbers as decimal strings, exactly as parsed."""
        out: dict[str, Any] = {}
        for key in ("country_code", "party_id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["id"] = self.id
        out["currency"] = self.currency
        if self.type is not None:
            out["type"] = self.type
        if self.tariff_alt_text:
            out["tariff_alt_text"] = [{"language": t.language, "text": t.text} for t in self.tariff_alt_text]
        if self.tariff_alt_url is not None:
            out["tariff_alt_url"] = self.tariff_alt_url
        for key in ("min_price", "max_price"):
            price: Price | None = getattr(self, key)
            if price is not None:
                out[key] = _price_json(price)
        out["elements"] = [_element_json(e) for e in self.elements]
        for key in ("start_date_time", "end_date_time", "last_updated"):
            moment: datetime | None = getattr(self, key)
            if moment is not None:
                out[key] = format_datetime(moment)
        return out


def parse_tariff(data: Mapping[str, Any]) -> Tariff:
    """Parse an OCPI 2.2.1 Tariff; raise ``InvalidInput`` naming the first invalid field by its JSON path."""
    reader = Reader()
    tariff = read_tariff(data, reader)
    reader.raise_errors()
    assert tariff is not None  # no errors means a tariff was built
    return tariff


def tariff_warnings(data: Mapping[str, Any]) -> list[str]:
    """Warnings for a tariff that still prices (missing identification fields), as ``path: message`` lines."""
    reader = Reader()
    read_tariff(data, reader)
    return [f"{i.path}: {i.message}" for i in reader.issues if i.severity == "warning"]


def select_tariff(tariffs: Sequence[Tariff], at: datetime) -> Tariff:
    """The first tariff whose ``start_date_time``/``end_date_time`` cover ``at`` (mod_tariffs, Tariff object)."""
    for tariff in tariffs:
        if tariff.start_date_time is not None and at < tariff.start_date_time:
            continue
        if tariff.end_date_time is not None and at >= tariff.end_date_time:
            continue
        return tariff
    raise InvalidInput(
        f"No tariff was active at session start {format_datetime(at)}; upload one that covers it.",
        code="tariff_not_active",
        field="start_date_time",
    )


def read_tariff(data: Any, reader: Reader, path: str = "$") -> Tariff | None:
    """Read a tariff, recording every problem in ``reader``; ``None`` when it has errors."""
    obj = reader.mapping(data, path)
    if obj is None:
        return None
    errors_before = len(reader.errors)
    for key in _IDENTIFICATION:
        if obj.get(key) is None:
            reader.warn(f"{path}.{key}", f"{key} is missing; the tariff still prices")
    identifier = reader.string(obj, "id", path, required=False)
    if identifier is None and obj.get("id") is None:
        reader.warn(f"{path}.id", "id is missing; the tariff still prices")
    currency = reader.string(obj, "currency", path, required=True)
    if currency is not None:
        try:
            check_currency(currency)
        except InvalidInput as exc:
            reader.error(f"{path}.currency", exc.message)
    tariff_type = reader.enum(obj, "type", path, TARIFF_TYPES, required=False)
    min_price = _read_price(obj, "min_price", path, reader)
    max_price = _read_price(obj, "max_price", path, reader)
    if min_price and max_price and min_price.excl_vat > max_price.excl_vat:
        reader.error(f"{path}.min_price", "min_price.excl_vat must not exceed max_price.excl_vat")
    start = reader.datetime(obj, "start_date_time", path, required=False)
    end = reader.datetime(obj, "end_date_time", path, required=False)
    if start and end and end <= start:
        reader.error(f"{path}.end_date_time", "end_date_time must be after start_date_time")
    last_updated = reader.datetime(obj, "last_updated", path, required=False)
    alt_text = _read_alt_text(obj, path, reader)
    alt_url = reader.string(obj, "tariff_alt_url", path, required=False)
    elements = []
    for i, item in enumerate(reader.array(obj, "elements", path, required=True) or ()):
        element = _read_element(item, f"{path}.elements[{i}]", reader)
        if element is not None:
            elements.append(element)
    if len(reader.errors) > errors_before or currency is None:
        return None
    return Tariff(
        id=identifier or "",
        currency=currency,
        elements=tuple(elements),
        type=tariff_type,
        min_price=min_price,
        max_price=max_price,
        start_date_time=start,
        end_date_time=end,
        tariff_alt_text=alt_text,
        tariff_alt_url=alt_url,
        country_code=reader.string(obj, "country_code", path, required=False),
        party_id=reader.string(obj, "party_id", path, required=False),
        last_updated=last_updated,
    )


def _read_price(obj: Mapping[str, Any], key: str, path: str, reader: Reader) -> Price | None:
    if obj.get(key) is None:
        return None
    price = reader.mapping(obj[key], f"{path}.{key}")
    if price is None:
        return None
    excl = reader.number(price, "excl_vat", f"{path}.{key}", required=True)
    incl = reader.number(price, "incl_vat", f"{path}.{key}", required=False)
    return None if excl is None else Price(excl, incl)


def _read_alt_text(obj: Mapping[str, Any], path: str, reader: Reader) -> tuple[DisplayText, ...]:
    texts = []
    for i, item in enumerate(reader.array(obj, "tariff_alt_text", path, required=False) or ()):
        entry = reader.mapping(item, f"{path}.tariff_alt_text[{i}]")
        if entry is None:
            continue
        language = reader.string(entry, "language", f"{path}.tariff_alt_text[{i}]", required=True)
        text = reader.string(entry, "text", f"{path}.tariff_alt_text[{i}]", required=True)
        if language is not None and text is not None:
            texts.append(DisplayText(language, text))
    return tuple(texts)


def _read_element(data: Any, path: str, reader: Reader) -> TariffElement | None:
    obj = reader.mapping(data, path)
    if obj is None:
        return None
    components = []
    for i, item in enumerate(reader.array(obj, "price_components", path, required=True) or ()):
        component = _read_component(item, f"{path}.price_components[{i}]", reader)
        if component is not None:
            components.append(component)
    restrictions = None
    if obj.get("restrictions") is not None:
        restrictions = _read_restrictions(obj["restrictions"], f"{path}.restrictions", reader)
    return TariffElement(tuple(components), restrictions)


def _read_component(data: Any, path: str, reader: Reader) -> PriceComponent | None:
    obj = reader.mapping(data, path)
    if obj is None:
        return None
    kind = reader.enum(obj, "type", path, DIMENSIONS, required=True)
    price = reader.number(obj, "price", path, required=True)
    vat = reader.number(obj, "vat", path, required=False)
    step_size = reader.integer(obj, "step_size", path, required=True)
    if kind is None or price is None or step_size is None:
        return None
    return PriceComponent(kind, price, vat, step_size)


def _read_restrictions(data: Any, path: str, reader: Reader) -> TariffRestrictions | None:
    obj = reader.mapping(data, path)
    if obj is None:
        return None
    start_time, end_time = _read_time(obj, "start_time", path, reader), _read_time(obj, "end_time", path, reader)
    start_date, end_date = _read_date(obj, "start_date", path, reader), _read_date(obj, "end_date", path, reader)
    if start_date and end_date and end_date <= start_date:
        reader.error(f"{path}.end_date", "end_date must be after start_date (it is exclusive)")
    bounds: dict[str, Any] = {}
    for name in ("kwh", "current", "power"):
        low = reader.number(obj, f"min_{name}", path, required=False)
        high = reader.number(obj, f"max_{name}", path, required=False)
        if low is not None and high is not None and high <= low:
            reader.error(f"{path}.max_{name}", f"max_{name} must be greater than min_{name}")
        bounds[f"min_{name}"], bounds[f"max_{name}"] = low, high
    min_duration = reader.integer(obj, "min_duration", path, required=False)
    max_duration = reader.integer(obj, "max_duration", path, required=False)
    if min_duration is not None and max_duration is not None and max_duration <= min_duration:
        reader.error(f"{path}.max_duration", "max_duration must be greater than min_duration")
    days = []
    for i, day in enumerate(reader.array(obj, "day_of_week", path, required=False) or ()):
        if day in DAYS_OF_WEEK:
            days.append(day)
        else:
            reader.error(f"{path}.day_of_week[{i}]", f"day_of_week {day!r} is not one of {', '.join(DAYS_OF_WEEK)}")
    reservation = reader.enum(obj, "reservation", path, RESERVATION_TYPES, required=False)
    return TariffRestrictions(
        start_time=start_time,
        end_time=end_time,
        start_date=start_date,
        end_date=end_date,
        min_duration=min_duration,
        max_duration=max_duration,
        day_of_week=tuple(days),
        reservation=reservation,
        **bounds,
    )


def _read_time(obj: Mapping[str, Any], key: str, path: str, reader: Reader) -> time | None:
    text = reader.string(obj, key, path, required=False)
    if text is None:
        return None
    if not _TIME_TEXT.fullmatch(text):
        reader.error(f"{path}.{key}", f"{key} {text!r} is not a 24h time such as 13:30")
        return None
    return time(int(text[:2]), int(text[3:]))


def _read_date(obj: Mapping[str, Any], key: str, path: str, reader: Reader) -> date | None:
    text = reader.string(obj, key, path, required=False)
    if text is None:
        return None
    try:
        if not _DATE_TEXT.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        reader.error(f"{path}.{key}", f"{key} {text!r} is not a date such as 2015-12-24")
        return None


def _price_json(price: Price) -> dict[str, Any]:
    out: dict[str, Any] = {"excl_vat": str(price.excl_vat)}
    if price.incl_vat is not None:
        out["incl_vat"] = str(price.incl_vat)
    return out


def _element_json(element: TariffElement) -> dict[str, Any]:
    out: dict[str, Any] = {"price_components": [_component_json(c) for c in element.price_components]}
    if element.restrictions is not None:
        out["restrictions"] = _restrictions_json(element.restrictions)
    return out


def _component_json(component: PriceComponent) -> dict[str, Any]:
    out: dict[str, Any] = {"type": component.type, "price": str(component.price)}
    if component.vat is not None:
        out["vat"] = str(component.vat)
    out["step_size"] = component.step_size
    return out


def _restrictions_json(r: TariffRestrictions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("start_time", "end_time"):
        value: time | None = getattr(r, key)
        if value is not None:
            out[key] = value.strftime("%H:%M")
    for key in ("start_date", "end_date"):
        day: date | None = getattr(r, key)
        if day is not None:
            out[key] = day.isoformat()
    for key in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
        if getattr(r, key) is not None:
            out[key] = str(getattr(r, key))
    for key in ("min_duration", "max_duration", "reservation"):
        if getattr(r, key) is not None:
            out[key] = getattr(r, key)
    if r.day_of_week:
        out["day_of_week"] = list(r.day_of_week)
    return out
