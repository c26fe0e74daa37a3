"""When a tariff element applies: OCPI 2.2.1 mod_tariffs, TariffRestrictions (all set fields must hold).

Restrictions are checked at a moment of the session: station-local wall time, seconds since the session
started, kWh delivered before that moment, and the current/power reported for the charging period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from voltbill.domain.tariffs import DAYS_OF_WEEK, Tariff, TariffRestrictions

_MIDNIGHT = time(0, 0)


class Moment(NamedTuple):
    """``local`` (naive station-local wall time), ``elapsed_s`` (seconds since session start), ``energy_kwh``
    (delivered before this moment), ``min/max_current`` (A) and ``min/max_power`` (kW) of the period, if known."""

    local: datetime
    elapsed_s: Decimal
    energy_kwh: Decimal
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None


def holds(r: TariffRestrictions, at: Moment) -> bool:
    """Whether every restriction set in ``r`` holds at ``at`` (the ``reservation`` field is the pricer's)."""
    timed = r.start_time is not None or r.end_time is not None
    if timed and not _in_time_window(r.start_time, r.end_time, at.local.time()):
        return False
    if r.start_date is not None or r.end_date is not None:
        day = at.local.date()
        if (r.start_date is not None and day < r.start_date) or (r.end_date is not None and day >= r.end_date):
            return False
    if r.day_of_week and DAYS_OF_WEEK[at.local.weekday()] not in r.day_of_week:
        return False
    if r.min_kwh is not None and at.energy_kwh < r.min_kwh:
        return False
    if r.max_kwh is not None and at.energy_kwh >= r.max_kwh:
        return False
    if r.min_duration is not None and at.elapsed_s < r.min_duration:
        return False
    if r.max_duration is not None and at.elapsed_s >= r.max_duration:
        return False
    # A current/power restriction cannot hold for a period that reports neither its minimum nor its maximum.
    if r.min_current is not None and not _at_least(at.min_current, at.max_current, r.min_current):
        return False
    if r.max_current is not None and not _below(at.max_current, at.min_current, r.max_current):
        return False
    if r.min_power is not None and not _at_least(at.min_power, at.max_power, r.min_power):
        return False
    return r.max_power is None or _below(at.max_power, at.min_power, r.max_power)


def _in_time_window(start: time | None, end: time | None, now: time) -> bool:
    # mod_tariffs, TariffRestrictions.end_time: "If end_time < start_time then the period wraps around to the next
    # day. To stop at end of the day use: 00:00."
    if end == _MIDNIGHT:
        end = None
    if start is not None and end is not None:
        if start < end:
            return start <= now < end
        if start > end:
            return now >= start or now < end
        return True
    if start is not None:
        return now >= start
    return end is None or now < end


def _at_least(value: Decimal | None, fallback: Decimal | None, limit: Decimal) -> bool:
    measured = value if value is not None else fallback
    return measured is not None and measured >= limit


def _below(value: Decimal | None, fallback: Decimal | None, limit: Decimal) -> bool:
    measured = value if value is not None else fallback
    return measured is not None and measured < limit


@dataclass(frozen=True, slots=True)
class Boundaries:
    """Where restrictions of a tariff can change their verdict: local wall times of day, seconds since session
    start, kWh delivered."""

    times_of_day: tuple[time, ...]
    durations_s: tuple[int, ...]
    energies_kwh: tuple[Decimal, ...]
    _cache: dict[tuple[date, ZoneInfo], tuple[datetime, ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def __bool__(self) -> bool:
        return bool(self.times_of_day or self.durations_s or self.energies_kwh)

    @classmethod
    def of(cls, tariff: Tariff) -> Boundaries:
        times: set[time] = set()
        durations: set[int] = set()
        energies: set[Decimal] = set()
        for element in tariff.elements:
            r = element.restrictions
            if r is None:
                continue
            times.update(t for t in (r.start_time, r.end_time) if t is not None)
            if r.day_of_week or r.start_date is not None or r.end_date is not None:
                times.add(_MIDNIGHT)
            durations.update(d for d in (r.min_duration, r.max_duration) if d)
            energies.update(e for e in (r.min_kwh, r.max_kwh) if e)
        return cls(tuple(sorted(times)), tuple(sorted(durations)), tuple(sorted(energies)))

    def wall_clock_cuts(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
        """UTC instants strictly inside (start, end) where a time-of-day boundary passes in zone ``tz``.

        DST-correct: a wall time that occurs twice gives two cuts; the offset changes themselves are cuts too, so
        a boundary inside a skipped hour takes effect at the jump.
        """
        if not self.times_of_day or end <= start:
            return []
        day: date = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        cuts: list[datetime] = []
        while day <= last:
            cuts.extend(moment for moment in self._day_cuts(day, tz) if start < moment < end)
            day += timedelta(days=1)
        return cuts

    def _day_cuts(self, day: date, tz: ZoneInfo) -> tuple[datetime, ...]:
        """The cuts of one local day, sorted; cached because every session of a station revisits the same days."""
        key = (day, tz)
        cached = self._cache.get(key)
        if cached is None:
            cuts = {
                datetime.combine(day, wall, tzinfo=tz).replace(fold=fold).astimezone(UTC)
                for wall in self.times_of_day
                for fold in (0, 1)
            }
            day_start = datetime.combine(day, _MIDNIGHT, tzinfo=tz).astimezone(UTC)
            day_end = datetime.combine(day + timedelta(days=1), _MIDNIGHT, tzinfo=tz).astimezone(UTC)
            if day_start.astimezone(tz).utcoffset() != day_end.astimezone(tz).utcoffset():
                cuts.update(_offset_changes(day_start, day_end, tz))
            if len(self._cache) > 10_000:
                self._cache.clear()
            cached = self._cache[key] = tuple(sorted(cuts))
        return cached


def _offset_changes(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants in (start, end) where the zone's UTC offset changes, found by bisection to the second."""
    changes: list[datetime] = []
    low = start
    while True:
        offset = low.astimezone(tz).utcoffset()
        if end.astimezone(tz).utcoffset() == offset:
            return changes
        high = end
        while high - low > timedelta(seconds=1):
            mid = low + (high - low) / 2
            if mid.astimezone(tz).utcoffset() == offset:
                low = mid
            else:
                high = mid
        changes.append(high.replace(microsecond=0) if high.microsecond else high)
        low = high
