"""Price a session by an OCPI 2.2.1 tariff (mod_tariffs; step_size rules from mod_cdrs, CDR object).

1. Periods are cut wherever a restriction may change its verdict (time of day in the station's zone, session
   duration, kWh delivered); volumes of a cut period are shared in proportion to time (or energy for kWh cuts).
2. Per piece and per dimension the first element whose restrictions hold and that has a component of that
   dimension prices the piece (mod_tariffs, Tariff object); elements without such a component are skipped.
3. FLAT is charged once per session (and once per reservation).
4. step_size applies once per dimension to the session's total volume, with the step of the last component used;
   TIME is not rounded when paid parking follows (mod_cdrs, step_size).
5. min_price/max_price bound the total, excl. and incl. VAT separately (mod_tariffs, Tariff object notes).
Amounts keep full precision; only ``report`` rounds them, through ``domain.rounding``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from voltbill.domain.price import Price
from voltbill.domain.pricing.periods import ChargingPeriod, SessionToPrice
from voltbill.domain.pricing.plan import Mode, Plan, first_component, plan_for
from voltbill.domain.pricing.restrictions import Moment
from voltbill.domain.tariffs import PriceComponent, Tariff

__all__ = ["PricedLine", "PricedSession", "SessionToPrice", "price_session"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_THOUSAND = Decimal(1000)
_HOUR_S = Decimal(3600)
_MICROSECOND = timedelta(microseconds=1)
# Volumes split by division carry noise in the 28th digit; never let it cost an extra step.
_STEP_TOLERANCE = Decimal("1e-9")

Category = Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME", "RESERVATION_TIME", "RESERVATION_FLAT"]


class PricedLine(NamedTuple):
    """One line per dimension, unit price and VAT rate: ``volume`` (kWh, hours, or 1 for FLAT; step rounding
    included), ``unit_price`` excl. VAT, ``vat`` (percent or ``None``), ``cost``. ``reservation`` marks costs of a
    reservation (OCPI prices reservation time with TIME components). Immutable; a NamedTuple because every priced
    session builds several and a frozen dataclass costs three times as much to build."""

    dimension: Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME"]
    volume: Decimal
    unit_price: Decimal
    vat: Decimal | None
    cost: Price
    reservation: bool = False


@dataclass(frozen=True, slots=True)
class PricedSession:
    """The priced session, full precision. Volumes: ``total_energy`` kWh, ``total_time`` hours (charging and
    parking, reservation excluded), ``total_parking_time`` hours. Every ``*_cost`` is set (zero when nothing was
    billed) except ``total_reservation_cost``, which is ``None`` for tariffs without reservation elements.
    ``limit_adjustment`` is what min_price/max_price added to the sum of ``lines``."""

    currency: str
    total_cost: Price
    total_fixed_cost: Price | None
    total_energy: Decimal
    total_energy_cost: Price | None
    total_time: Decimal
    total_time_cost: Price | None
    total_parking_time: Decimal
    total_parking_cost: Price | None
    total_reservation_cost: Price | None
    lines: tuple[PricedLine, ...]
    limit_adjustment: Price | None = None


class _Ledger:
    """Volumes per (category, component) and, per dimension, the last component used and when."""

    __slots__ = ("components", "last", "last_order", "order", "volumes")

    def __init__(self) -> None:
        # Keyed by the component's identity: hashing a frozen dataclass field by field is slow on the hot path.
        self.volumes: dict[tuple[Category, int], Decimal] = {}
        self.components: dict[tuple[Category, int], PriceComponent] = {}
        self.last: dict[Category, PriceComponent] = {}
        self.last_order: dict[Category, int] = {}
        self.order = 0

    def add(self, category: Category, component: PriceComponent | None, volume: Decimal) -> None:
        self.order += 1
        if component is None:
            return
        key = (category, id(component))
        volumes = self.volumes
        if key in volumes:
            volumes[key] += volume
        else:
            volumes[key] = volume
            self.components[key] = component
        if volume:
            self.last[category] = component
            self.last_order[category] = self.order

    def round_up(self, category: Category, total: Decimal, unit: Decimal) -> None:
        """Bill ``total`` (in the dimension's unit) rounded up to the last component's step (mod_cdrs, step_size)."""
        component = self.last.get(category)
        if component is None or component.step_size <= 0 or total <= 0:
            return
        step = _step(component.step_size, unit)
        steps = ((total - _STEP_TOLERANCE) / step).to_integral_value(rounding=ROUND_CEILING)
        extra = steps * step - total
        if extra > 0:
            self.add(category, component, extra)


_STEPS: dict[tuple[int, Decimal], Decimal] = {}


def _step(step_size: int, unit: Decimal) -> Decimal:
    """``step_size`` (Wh or seconds) in the dimension's unit (kWh or hours), cached."""
    step = _STEPS.get((step_size, unit))
    if step is None:
        if len(_STEPS) > 4096:
            _STEPS.clear()
        step = _STEPS[(step_size, unit)] = Decimal(step_size) / unit
    return step


def price_session(tariff: Tariff, session: SessionToPrice, tz: ZoneInfo) -> PricedSession:
    """Price ``session`` by ``tariff``; restrictions on time of day, date and weekday are read in zone ``tz``."""
    plan = plan_for(tariff)
    ledger = _Ledger()
    start = session.start_date_time
    periods = session.charging_periods
    count = len(periods)
    values = [_read(period) for period in periods]
    expired = count > 0 and all(v[4] for v in values)
    total_energy = total_charging = total_parking = total_reserved = _ZERO
    wall = timedelta(0)
    energy_before = _ZERO
    timed, counted = bool(plan.boundaries.times_of_day), bool(plan.boundaries.durations_s)
    flat_due = {"session": True, "reservation": True}
    # Time-of-day cuts of the whole session at once; each period takes its share by bisection.
    span_start = min(start, periods[0].start_date_time) if periods else start
    wall_cuts = plan.boundaries.wall_clock_cuts(span_start, session.end_date_time, tz) if timed else []
    for i, period in enumerate(periods):
        period_start = period.start_date_time
        end = periods[i + 1].start_date_time if i + 1 < count else session.end_date_time
        value = values[i]
        energy, charging, parking, reserved, reservation = value[:5]
        caps = value[5:]
        total_energy += energy
        if charging:
            total_charging += charging
        if parking:
            total_parking += parking
        if reserved:
            total_reserved += reserved
        if not reservation:
            wall += end - period_start
        mode: Mode = ("expired" if expired else "reservation") if reservation else "session"
        inside = wall_cuts[bisect_right(wall_cuts, period_start) : bisect_left(wall_cuts, end)] if wall_cuts else []
        cuts = _cuts(plan, start, period_start, end, energy_before, energy, inside)
        if len(cuts) == 1:
            # Local time and elapsed seconds are only worked out when a restriction reads them.
            local = period_start.astimezone(tz) if timed else period_start
            elapsed = Decimal((period_start - start) // _MICROSECOND) / _MILLION if counted else _ZERO
            moment = Moment(local, elapsed, energy_before, *caps)
            _price_piece(plan, ledger, mode, moment, energy, charging, parking, reserved, flat_due)
        else:
            remaining = [energy, charging, parking, reserved]
            for index, (low, instant, energy_at) in enumerate(cuts):
                last = index + 1 == len(cuts)
                share = cuts[index + 1][0] - low if not last else _ONE
                piece = remaining if last else [energy * share, charging * share, parking * share, reserved * share]
                if not last:
                    remaining = [r - p for r, p in zip(remaining, piece, strict=True)]
                moment = _moment(instant, start, energy_at, caps, tz if timed else None, counted)
                _price_piece(plan, ledger, mode, moment, piece[0], piece[1], piece[2], piece[3], flat_due)
        energy_before += energy
    if not periods:
        moment = Moment(start.astimezone(tz), _ZERO, _ZERO)
        _price_piece(plan, ledger, "session", moment, _ZERO, _ZERO, _ZERO, _ZERO, flat_due)
    totals = [total_energy, total_charging, total_parking, total_reserved]
    return _settle(plan, ledger, totals, Decimal(wall // _MICROSECOND) / _HOUR_US)


def _moment(
    instant: datetime, start: datetime, energy: Decimal, caps: tuple[Any, ...], tz: ZoneInfo | None, counted: bool
) -> Moment:
    # Local time and elapsed seconds are only worked out when a restriction reads them.
    local = instant.astimezone(tz) if tz is not None else instant
    elapsed = Decimal((instant - start) // _MICROSECOND) / _MILLION if counted else _ZERO
    return Moment(local, elapsed, energy, *caps)


def _read(period: ChargingPeriod) -> tuple[Any, ...]:
    """(energy kWh, charging h, parking h, reservation h, is a reservation period, min/max current, min/max power)."""
    energy = charging = parking = reserved = _ZERO
    reservation = False
    min_current = max_current = min_power = max_power = None
    for dimension in period.dimensions:
        kind, volume = dimension.type, dimension.volume
        if kind == "ENERGY":
            energy = volume
        elif kind == "TIME":
            charging = volume
        elif kind == "PARKING_TIME":
            parking = volume
        elif kind == "RESERVATION_TIME":
            reserved, reservation = volume, True
        elif kind == "MIN_CURRENT":
            min_current = volume
        elif kind == "MAX_CURRENT":
            max_current = volume
        elif kind == "MIN_POWER":
            min_power = volume
        elif kind == "MAX_POWER":
            max_power = volume
    return energy, charging, parking, reserved, reservation, min_current, max_current, min_power, max_power


_CATEGORIES: tuple[Category, ...] = ("ENERGY", "FLAT", "TIME", "PARKING_TIME", "RESERVATION_TIME", "RESERVATION_FLAT")
_HOUR_US = Decimal(3_600_000_000)
_MILLION = Decimal(1_000_000)


def _cuts(
    plan: Plan,
    session_start: datetime,
    start: datetime,
    end: datetime,
    energy_before: Decimal,
    energy: Decimal,
    wall_cuts: list[datetime],
) -> list[tuple[Decimal, datetime, Decimal]]:
    """Where the period is cut, in order: (fraction of the period, instant, kWh delivered before it).

    ``wall_cuts`` are the time-of-day cuts inside the period. A cut keeps the exact instant or kWh of the boundary
    that caused it, so the restriction sees the boundary itself and not a value a rounding error away from it.
    """
    bounds = plan.boundaries
    if not wall_cuts and not bounds.durations_s and not bounds.energies_kwh:
        return [(_ZERO, start, energy_before)]
    duration_us = (end - start) // _MICROSECOND
    found: dict[Decimal, tuple[datetime | None, Decimal | None]] = {}
    if duration_us > 0:
        instants = list(wall_cuts)
        if bounds.durations_s:
            since_start = (start - session_start).total_seconds()
            for seconds in bounds.durations_s:
                if since_start < seconds < since_start + duration_us / 1_000_000:
                    instants.append(session_start + timedelta(seconds=seconds))
        if instants:
            whole = Decimal(duration_us)
            for instant in instants:
                found[Decimal((instant - start) // _MICROSECOND) / whole] = (instant, None)
    if energy > 0 and bounds.energies_kwh:
        for kwh in bounds.energies_kwh:
            if energy_before < kwh < energy_before + energy:
                fraction = (kwh - energy_before) / energy
                found[fraction] = (found.get(fraction, (None, None))[0], kwh)
    cuts = [(_ZERO, start, energy_before)]
    if not found:
        return cuts
    for fraction in sorted(found):
        if _ZERO < fraction < _ONE:
            exact_instant, exact_kwh = found[fraction]
            instant = exact_instant or start + timedelta(microseconds=int(duration_us * fraction))
            cuts.append((fraction, instant, energy_before + energy * fraction if exact_kwh is None else exact_kwh))
    return cuts


def _price_piece(
    plan: Plan,
    ledger: _Ledger,
    mode: Mode,
    moment: Moment,
    energy: Decimal,
    charging: Decimal,
    parking: Decimal,
    reserved: Decimal,
    flat_due: dict[str, bool],
) -> None:
    candidates = plan.candidates[mode]
    if mode == "session":
        if energy:
            ledger.add("ENERGY", first_component(candidates.get("ENERGY"), moment), energy)
        if charging:
            ledger.add("TIME", first_component(candidates.get("TIME"), moment), charging)
        if parking:
            ledger.add("PARKING_TIME", first_component(candidates.get("PARKING_TIME"), moment), parking)
        flat_category: Category = "FLAT"
        due = "session"
    else:
        if reserved:
            ledger.add("RESERVATION_TIME", first_component(candidates.get("TIME"), moment), reserved)
        flat_category, due = "RESERVATION_FLAT", "reservation"
    # mod_tariffs, TariffDimensionType FLAT: a fixed fee, charged once per session (and once per reservation).
    if flat_due[due]:
        flat = first_component(candidates.get("FLAT"), moment)
        if flat is not None:
            ledger.add(flat_category, flat, _ONE)
            flat_due[due] = False


def _settle(plan: Plan, ledger: _Ledger, totals: list[Decimal], wall_hours: Decimal) -> PricedSession:
    # mod_cdrs, step_size: once per dimension on the session total, with the step of the last component used;
    # charging time followed by paid parking is not rounded, only the parking is.
    energy, charging, parking, reserved = totals
    ledger.round_up("ENERGY", energy, _THOUSAND)
    if ledger.last_order.get("PARKING_TIME", -1) < ledger.last_order.get("TIME", -1):
        ledger.round_up("TIME", charging, _HOUR_S)
    ledger.round_up("PARKING_TIME", parking, _HOUR_S)
    ledger.round_up("RESERVATION_TIME", reserved, _HOUR_S)
    components = ledger.components
    entries = [(key[0], components[key].price, components[key].vat, volume) for key, volume in ledger.volumes.items()]
    if plan.merge_lines:
        merged: dict[tuple[Category, Decimal, Decimal | None], Decimal] = {}
        for category, price, vat, volume in entries:
            merged[(category, price, vat)] = merged.get((category, price, vat), _ZERO) + volume
        entries = [(category, price, vat, volume) for (category, price, vat), volume in merged.items()]
    # Sums per category; incl. VAT is unknown if the tariff states no VAT, or a billed line has no VAT rate.
    excl = dict.fromkeys(_CATEGORIES, _ZERO)
    incl: dict[Category, Decimal | None] = dict.fromkeys(_CATEGORIES, _ZERO if plan.has_vat else None)
    lines = []
    for category, price, vat, volume in entries:
        line_excl = price * volume
        line_incl = None if vat is None else line_excl * (_HUNDRED + vat).scaleb(-2)
        cost = Price(line_excl, line_incl)
        lines.append(PricedLine(_DIMENSION_OF[category], volume, price, vat, cost, category in _RESERVATION))
        excl[category] += line_excl
        so_far = incl[category]
        if so_far is not None:
            if line_incl is not None:
                incl[category] = so_far + line_incl
            elif line_excl:
                incl[category] = None

    lines_excl = sum(excl.values(), _ZERO)
    known = list(incl.values())
    lines_incl = None if any(v is None for v in known) else sum((v for v in known if v is not None), _ZERO)
    lines_total = Price(lines_excl, lines_incl)
    total = _limit(plan.tariff, lines_total)
    reported_time = charging + parking
    return PricedSession(
        currency=plan.tariff.currency,
        total_cost=total,
        total_fixed_cost=Price(excl["FLAT"], incl["FLAT"]),
        total_energy=energy,
        total_energy_cost=Price(excl["ENERGY"], incl["ENERGY"]),
        total_time=reported_time if reported_time else wall_hours,
        total_time_cost=Price(excl["TIME"], incl["TIME"]),
        total_parking_time=parking,
        total_parking_cost=Price(excl["PARKING_TIME"], incl["PARKING_TIME"]),
        total_reservation_cost=_reservation_cost(excl, incl) if plan.has_reservation else None,
        lines=tuple(lines),
        limit_adjustment=None if total is lines_total else _difference(total, lines_total),
    )


def _reservation_cost(excl: dict[Category, Decimal], incl: dict[Category, Decimal | None]) -> Price:
    time_incl, flat_incl = incl["RESERVATION_TIME"], incl["RESERVATION_FLAT"]
    both = None if time_incl is None or flat_incl is None else time_incl + flat_incl
    return Price(excl["RESERVATION_TIME"] + excl["RESERVATION_FLAT"], both)


_DIMENSION_OF: dict[Category, Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME"]] = {
    "ENERGY": "ENERGY",
    "FLAT": "FLAT",
    "TIME": "TIME",
    "PARKING_TIME": "PARKING_TIME",
    "RESERVATION_TIME": "TIME",
    "RESERVATION_FLAT": "FLAT",
}
_RESERVATION = frozenset({"RESERVATION_TIME", "RESERVATION_FLAT"})


def _limit(tariff: Tariff, total: Price) -> Price:
    # mod_tariffs, Tariff object notes on min_price/max_price: the bounds hold excl. and incl. VAT separately.
    low, high = tariff.min_price, tariff.max_price
    if low is None and high is None:
        return total
    excl, incl = total.excl_vat, total.incl_vat
    if low is not None:
        excl, incl = _bound(
            excl, incl, low, low.excl_vat > excl, low.incl_vat is not None and incl is not None and low.incl_vat > incl
        )
    if high is not None:
        excl, incl = _bound(
            excl,
            incl,
            high,
            high.excl_vat < excl,
            high.incl_vat is not None and incl is not None and high.incl_vat < incl,
        )
    if excl == total.excl_vat and incl is total.incl_vat:
        return total
    return Price(excl, incl)


def _bound(
    excl: Decimal, incl: Decimal | None, bound: Price, excl_out: bool, incl_out: bool
) -> tuple[Decimal, Decimal | None]:
    if excl_out:
        if bound.incl_vat is None and incl is not None:
            # No bound incl. VAT: keep the session's VAT share.
            incl = incl * bound.excl_vat / excl if excl else None
        excl = bound.excl_vat
    if incl_out:
        incl = bound.incl_vat
    return excl, incl


def _difference(total: Price, lines_total: Price) -> Price:
    incl = None if total.incl_vat is None or lines_total.incl_vat is None else total.incl_vat - lines_total.incl_vat
    return Price(total.excl_vat - lines_total.excl_vat, incl)
