"""Charging periods (OCPI 2.2.1 mod_cdrs, ChargingPeriod): from a CDR's JSON or from raw meter data.

Live OCPP sessions and offline CDRs both become a ``SessionToPrice`` so one pricer serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from voltbill.domain.errors import InvalidInput
from voltbill.domain.pricing.ocpi_json import Reader, format_datetime

# mod_cdrs, CdrDimensionType (session-only types included so Session charging periods read too).
CDR_DIMENSIONS = (
    "CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER",
    "MIN_POWER", "PARKING_TIME", "POWER", "RESERVATION_TIME", "STATE_OF_CHARGE", "TIME",
)  # fmt: skip
_VOLUMES = frozenset({"ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME"})
_KWH_PER_WH = Decimal("0.001")
MAX_SESSION = timedelta(days=366)
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True, slots=True)
class CdrDimension:
    """``type`` (CdrDimensionType) and ``volume`` (kWh for ENERGY, hours for TIME/PARKING_TIME/RESERVATION_TIME,
    A for *_CURRENT, kW for *_POWER)."""

    type: str
    volume: Decimal


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """A period that lasts until the next period starts (the last one until the session ends)."""

    start_date_time: datetime
    dimensions: tuple[CdrDimension, ...]
    tariff_id: str | None = None

    def volume(self, kind: str) -> Decimal | None:
        """The volume of dimension ``kind``, or ``None`` when the period does not report it."""
        for dimension in self.dimensions:
            if dimension.type == kind:
                return dimension.volume
        return None


@dataclass(frozen=True, slots=True)
class SessionToPrice:
    """A session as OCPI sees it: aware UTC ``start_date_time``/``end_date_time`` and ordered
    ``charging_periods``."""

    start_date_time: datetime
    end_date_time: datetime
    charging_periods: tuple[ChargingPeriod, ...]


@dataclass(frozen=True, slots=True)
class MeterSample:
    """A meter reading: ``energy_wh`` is the cumulative register (Wh); ``power_w`` (W) and ``current_a`` (A, sum
    over phases) when sampled."""

    timestamp: datetime
    energy_wh: Decimal
    power_w: Decimal | None = None
    current_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """From ``timestamp`` on the EV is ``charging`` (True) or parked without charging (False)."""

    timestamp: datetime
    charging: bool


def build_charging_periods(
    start: datetime, end: datetime, samples: Sequence[MeterSample], states: Sequence[ConnectorState]
) -> list[ChargingPeriod]:
    """Split a raw session into charging periods, one per stretch of unchanged charging state.

    Each period has ENERGY (kWh, the register interpolated linearly at the period bounds), TIME or PARKING_TIME
    (hours) and MAX_POWER (kW) / MAX_CURRENT (A) when samples inside it carry them. The EV counts as charging until
    the first state says otherwise. A session of zero length gives one empty TIME period.
    """
    if end < start:
        raise InvalidInput("the session ends before it starts", field="end_date_time")
    ordered = sorted(samples, key=lambda s: s.timestamp)
    bounds: list[tuple[datetime, bool]] = [(start, True)]
    for state in sorted(states, key=lambda s: s.timestamp):
        if state.timestamp <= start:
            bounds[0] = (start, state.charging)
        elif state.timestamp < end and state.charging != bounds[-1][1]:
            bounds.append((state.timestamp, state.charging))
    periods = []
    for i, (period_start, charging) in enumerate(bounds):
        period_end = bounds[i + 1][0] if i + 1 < len(bounds) else end
        hours = Decimal((period_end - period_start).total_seconds()) / _SECONDS_PER_HOUR
        energy = (_register_at(ordered, period_end) - _register_at(ordered, period_start)) * _KWH_PER_WH
        dimensions = [CdrDimension("ENERGY", energy), CdrDimension("TIME" if charging else "PARKING_TIME", hours)]
        inside = [s for s in ordered if period_start <= s.timestamp <= period_end]
        powers = [s.power_w for s in inside if s.power_w is not None]
        currents = [s.current_a for s in inside if s.current_a is not None]
        if powers:
            dimensions.append(CdrDimension("MAX_POWER", max(powers) * _KWH_PER_WH))
        if currents:
            dimensions.append(CdrDimension("MAX_CURRENT", max(currents)))
        periods.append(ChargingPeriod(period_start, tuple(dimensions)))
    return periods


def _register_at(samples: Sequence[MeterSample], moment: datetime) -> Decimal:
    """The energy register (Wh) at ``moment``, linear between samples and flat outside them."""
    if not samples:
        return Decimal(0)
    if moment <= samples[0].timestamp:
        return samples[0].energy_wh
    for before, after in pairwise(samples):
        if moment <= after.timestamp:
            span = (after.timestamp - before.timestamp).total_seconds()
            if span == 0:
                return after.energy_wh
            part = Decimal((moment - before.timestamp).total_seconds()) / Decimal(span)
            return before.energy_wh + (after.energy_wh - before.energy_wh) * part
    return samples[-1].energy_wh


def read_session(data: Any) -> SessionToPrice:
    """Read the session a CDR (or OCPI Session) JSON describes; totals in it are ignored.

    Raises ``InvalidInput`` with the JSON path of the first problem: missing or malformed times, a session that ends
    before it starts, periods out of order or outside the session, unknown dimension types, negative volumes.
    """
    reader = Reader()
    obj = reader.mapping(data, "$")
    if obj is None:
        reader.raise_errors()
        raise AssertionError("unreachable")  # pragma: no cover
    start = reader.datetime(obj, "start_date_time", "$", required=True)
    end = reader.datetime(obj, "end_date_time", "$", required=True)
    if start and end and end < start:
        reader.error("$.end_date_time", "end_date_time is before start_date_time")
    elif start and end and end - start > MAX_SESSION:
        reader.error("$.end_date_time", f"the session lasts longer than {MAX_SESSION.days} days")
    periods: list[ChargingPeriod] = []
    for i, item in enumerate(reader.array(obj, "charging_periods", "$", required=True) or ()):
        period = _read_period(item, f"$.charging_periods[{i}]", reader)
        if period is None:
            continue
        path = f"$.charging_periods[{i}].start_date_time"
        if periods and period.start_date_time < periods[-1].start_date_time:
            reader.error(path, "charging periods must be in time order")
        elif start and period.start_date_time < start:
            reader.error(path, "the charging period starts before the session's start_date_time")
        elif end and period.start_date_time > end:
            reader.error(path, "the charging period starts after the session's end_date_time")
        periods.append(period)
    reader.raise_errors()
    assert start is not None and end is not None
    return SessionToPrice(start, end, tuple(periods))


def _read_period(data: Any, path: str, reader: Reader) -> ChargingPeriod | None:
    obj = reader.mapping(data, path)
    if obj is None:
        return None
    start = reader.datetime(obj, "start_date_time", path, required=True)
    tariff_id = reader.string(obj, "tariff_id", path, required=False)
    dimensions = []
    for i, item in enumerate(reader.array(obj, "dimensions", path, required=True) or ()):
        dimension = reader.mapping(item, f"{path}.dimensions[{i}]")
        if dimension is None:
            continue
        kind = reader.enum(dimension, "type", f"{path}.dimensions[{i}]", CDR_DIMENSIONS, required=True)
        volume = reader.number(
            dimension, "volume", f"{path}.dimensions[{i}]", required=True, non_negative=kind in _VOLUMES
        )
        if kind is not None and volume is not None:
            dimensions.append(CdrDimension(kind, volume))
    return None if start is None else ChargingPeriod(start, tuple(dimensions), tariff_id)


def periods_json(periods: Sequence[ChargingPeriod], tariff_id: str | None) -> list[dict[str, Any]]:
    """Charging periods as OCPI JSON (volumes as exact ``Decimal``, JSON numbers), each pointing at ``tariff_id``."""
    out = []
    for period in periods:
        item: dict[str, Any] = {
            "start_date_time": format_datetime(period.start_date_time),
            "dimensions": [{"type": d.type, "volume": d.volume} for d in period.dimensions],
        }
        if tariff_id or period.tariff_id:
            item["tariff_id"] = tariff_id or period.tariff_id
        out.append(item)
    return out
