"""Peak hours: a weekday x hour heatmap in each station's local time, of sessions started and of power drawn.

Energy is spread over the local hours a session was connected, in proportion to the time spent in each hour
(a session's meter values are not part of the analytics input), so a long evening session heats several cells.
The spread is materialised once per engine (``session_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters


@dataclass(frozen=True, slots=True)
class PeakCell:
    """One heatmap cell: ``weekday`` (ISO, 1 = Monday), local ``hour`` 0-23, ``location_id`` (None = all).

    ``sessions`` started in the cell; ``energy_kwh`` drawn during it; ``mean_power_kw`` that energy divided by
    how often the weekday-hour occurs in the window (the average power drawn at that time of the week).
    """

    location_id: str | None
    weekday: int
    hour: int
    sessions: int
    energy_kwh: float
    mean_power_kw: float


_SQL = """
WITH started AS (
    SELECT {loc} AS location_id, isodow(s.start_local) AS weekday, hour(s.start_local) AS hour, count(*) AS n
    FROM sessions s WHERE {cond} GROUP BY ALL
),
drawn AS (
    SELECT {loc} AS location_id, s.weekday, s.hour, sum(s.kwh) AS kwh
    FROM session_hours s WHERE {cond} GROUP BY ALL
)
SELECT coalesce(a.location_id, b.location_id), coalesce(a.weekday, b.weekday), coalesce(a.hour, b.hour),
       coalesce(a.n, 0), coalesce(b.kwh, 0)
FROM started a FULL JOIN drawn b
  ON a.location_id IS NOT DISTINCT FROM b.location_id AND a.weekday = b.weekday AND a.hour = b.hour
ORDER BY 1, 2, 3
"""


def peak_hours(engine: AnalyticsEngine, filters: Filters, per_location: bool = False) -> list[PeakCell]:
    """All non-empty heatmap cells, ordered by location, weekday, hour; summed over locations unless
    ``per_location``."""
    cond, params = filters.where()
    loc = "s.location_id" if per_location else "NULL::VARCHAR"
    cells = engine.rows(_SQL.format(cond=cond, loc=loc), params)
    occurrences = _weekday_occurrences(engine, filters)
    return [
        PeakCell(loc_id, weekday, hour, n, kwh, kwh / occurrences[weekday] if occurrences[weekday] else 0.0)
        for loc_id, weekday, hour, n, kwh in cells
    ]


def busiest(cells: list[PeakCell], by: str = "sessions") -> PeakCell | None:
    """The cell with the most ``sessions`` (or ``energy_kwh``); None for an empty heatmap."""
    return max(cells, key=lambda c: getattr(c, by), default=None)


def _weekday_occurrences(engine: AnalyticsEngine, filters: Filters) -> dict[int, int]:
    """How many times each ISO weekday occurs in the analysis window (local dates)."""
    counts = dict.fromkeys(range(1, 8), 0)
    window = engine.span(filters)
    if window is None:
        return counts
    day, last = window[0].date(), (window[1] - timedelta(microseconds=1)).date()
    while day <= last:
        counts[day.isoweekday()] += 1
        day += timedelta(days=1)
    return counts
