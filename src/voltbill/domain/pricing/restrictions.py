"""When a tariff element applies: OCPI 2.2.1 mod_tariffs, TariffRestrictions (all set fields must hold).

Restrictions are checked at a moment of the session: station-local wall time, seconds since the session
started, kWh delivered before that moment, and the current/power reported for the charging period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from voltbill.domain.tariffs import DAYS_OF_WEEK, Tariff, TariffRestrictions

_MIDNIGHT = time(0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Moment(NamedTuple):
    """A moment of the session: ``local`` (station-local wall time; only its wall-clock fields are read),
    ``elapsed_s`` (seconds since session start), ``energy_kwh`` (delivered before this moment),
    ``min/max_current`` (A) and ``min/max_power`` (kW) of the period, if known."""

    local: datetime
    elapsed_s: Decimal
    energy_kwh: Decimal
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None


Check = Callable[[Moment], bool]


def holds(r: TariffRestrictions, at: Moment) -> bool:
    """Whether every restriction set in ``r`` holds at ``at`` (the ``reservation`` field is the pricer's)."""
    return compile_restrictions(r)(at)


def compile_restrictions(r: TariffRestrictions) -> Check:
    """One function that checks only the restrictions ``r`` sets (the pricer calls it for every piece)."""
    checks: list[Check] = []
    window = _time_window_check(r.start_time, r.end_time)
    if window is not None:
        checks.append(window)
    if r.start_date is not None:
        first = r.start_date
        checks.append(lambda at: at.local.date() >= first)
    if r.end_date is not None:
        after = r.end_date
        checks.append(lambda at: at.local.date() < after)
    if r.day_of_week:
        weekdays = frozenset(DAYS_OF_WEEK.index(day) for day in r.day_of_week)
        checks.append(lambda at: at.local.weekday() in weekdays)
    if r.min_kwh is not None:
        min_kwh = r.min_kwh
        checks.append(lambda at: at.energy_kwh >= min_kwh)
    if r.max_kwh is not None:
        max_kwh = r.max_kwh
        checks.append(lambda at: at.energy_kwh < max_kwh)
    if r.min_duration is not None:
        min_duration = r.min_duration
        checks.append(lambda at: at.elapsed_s >= min_duration)
    if r.max_duration is not None:
        max_duration = r.max_duration
        checks.append(lambda at: at.elapsed_s < max_duration)
    # A current/power restriction cannot hold for a period that reports neither its minimum nor its maximum.
    if r.min_current is not None:
        min_current = r.min_current
        checks.append(lambda at: _at_least(at.min_current, at.max_current, min_current))
    if r.max_current is not None:
        max_current = r.max_current
        checks.append(lambda at: _below(at.max_current, at.min_current, max_current))
    if r.min_power is not None:
        min_power = r.min_power
        checks.append(lambda at: _at_least(at.min_power, at.max_power, min_power))
    if r.max_power is not None:
        max_power = r.max_power
        checks.append(lambda at: _below(at.max_power, at.min_power, max_power))
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first_check, second_check = checks
        return lambda at: first_check(at) and second_check(at)
    return lambda at: all(check(at) for check in checks)


def _time_window_check(start: time | None, end: time | None) -> Check | None:
    # mod_tariffs, TariffRestrictions.end_time: "If end_time < start_time then the period wraps around to the next
    # day. To stop at end of the day use: 00:00."
    if end == _MIDNIGHT:
        end = None
    if start is not None and end is not None:
        if start < end:
            return lambda at: start <= at.local.time() < end
        if start > end:
            return lambda at: (now := at.local.time()) >= start or now < end
        return None  # start_time equal to end_time: the whole day
    if start is not None:
        return lambda at: at.local.time() >= start
    if end is not None:
        return lambda at: at.local.time() < end
    return None


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
    _utc_cache: dict[tuple[int, ZoneInfo], tuple[datetime, ...]] = field(
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
            # Midnight ends a day, a date and a one-sided time window (start_time alone holds until 00:00).
            if times or r.day_of_week or r.start_date is not None or r.end_date is not None:
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
        first, last = (start - _EPOCH).days, (end - _EPOCH).days
        if first == last:
            return [moment for moment in self._utc_day_cuts(first, tz) if start < moment < end]
        cuts: list[datetime] = []
        for day in range(first, last + 1):
            cuts.extend(moment for moment in self._utc_day_cuts(day, tz) if start < moment < end)
        return cuts

    def _utc_day_cuts(self, day: int, tz: ZoneInfo) -> tuple[datetime, ...]:
        """The cuts inside UTC day number ``day`` (days since 1970-01-01), cached per zone."""
        key = (day, tz)
        cached = self._utc_cache.get(key)
        if cached is None:
            low = _EPOCH + timedelta(days=day)
            high = low + timedelta(days=1)
            local_day = low.astimezone(tz).date()
            found = {
                moment
                for offset in (-1, 0, 1)
                for moment in self._day_cuts(local_day + timedelta(days=offset), tz)
                if low <= moment < high
            }
            if len(self._utc_cache) > 10_000:
                self._utc_cache.clear()
            cached = self._utc_cache[key] = tuple(sorted(found))
        return cached

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
