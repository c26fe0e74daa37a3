"""Usage: sessions, energy, connected vs charging time, per station, location, EVSE, local day or local hour."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters

UsageBy = Literal["station", "location", "evse", "day", "hour"]

_KEYS: dict[str, str] = {
    "station": "s.charge_point_id",
    "location": "s.location_id",
    "evse": "s.evse_id",
    "day": "strftime(s.start_local, '%Y-%m-%d')",
    "hour": "printf('%02d:00', hour(s.start_local))",
}
_CAPACITY_KEYS = {"station": "charge_point_id", "location": "location_id", "evse": "evse_id"}


@dataclass(frozen=True)
class UsageRow:
    """Usage of one ``key`` (station id, location id, EVSE id, local date ``YYYY-MM-DD`` or local hour ``HH:00``).

    ``kwh`` energy delivered; ``connected_hours`` plugged in, ``charging_hours`` actually charging;
    ``evses`` how many EVSEs the key has and ``utilisation`` connected time / (EVSEs x window), 0..1 (station,
    location and EVSE only); ``unavailable_hours`` time its EVSEs reported Faulted or Unavailable.
    """

    key: str
    sessions: int
    kwh: Decimal
    connected_hours: float
    charging_hours: float
    evses: int | None = None
    utilisation: float | None = None
    unavailable_hours: float | None = None


_SESSIONS_SQL = """
SELECT {key} AS key, count(*) AS sessions, coalesce(sum(s.kwh), 0) AS kwh,
       coalesce(sum(s.connected_us), 0) / 3.6e9 AS connected_hours,
       coalesce(sum(s.charging_seconds), 0) / 3600 AS charging_hours
FROM sessions s WHERE {cond} AND {key} IS NOT NULL GROUP BY 1
"""

# Unavailable time: from each Faulted/Unavailable status until the EVSE's next status (or now).
_CAPACITY_SQL = """
WITH e AS (SELECT * FROM evses WHERE $f_location IS NULL OR location_id = $f_location),
st AS (
    SELECT evse_id, status, timestamp, lead(timestamp, 1, $now) OVER (PARTITION BY evse_id ORDER BY timestamp) AS upto
    FROM status_events
),
down AS (
    SELECT evse_id, sum(epoch(upto - timestamp)) / 3600 AS hours FROM st
    WHERE status IN ('Faulted', 'Unavailable') GROUP BY 1
)
SELECT e.{ckey} AS key, count(*) AS evses, sum(coalesce(down.hours, 0)) AS unavailable_hours
FROM e LEFT JOIN down USING (evse_id) GROUP BY 1
"""


def usage(engine: AnalyticsEngine, filters: Filters, by: UsageBy = "station") -> list[UsageRow]:
    """Usage grouped ``by`` station, location, evse, day or hour; rows ordered by key.

    Station, location and EVSE views include every registered one, also those without sessions.
    """
    if by not in _KEYS:
        raise ValueError(f"unknown usage grouping {by!r}")
    cond, params = filters.where()
    found = {
        row[0]: row
        for row in engine.rows(_SESSIONS_SQL.format(key=_KEYS[by], cond=cond), params)
    }  # fmt: skip
    if by not in _CAPACITY_KEYS:
        return [UsageRow(key, n, kwh, ch, gh) for key, (_, n, kwh, ch, gh) in sorted(found.items())]
    capacity = {
        key: (evses, down)
        for key, evses, down in engine.rows(
            _CAPACITY_SQL.format(ckey=_CAPACITY_KEYS[by]), {"f_location": filters.location_id, "now": engine.now}
        )
    }
    window_hours = engine.span_seconds(filters) / 3600
    rows = []
    for key in sorted(set(found) | set(capacity)):
        _, n, kwh, connected, charging = found.get(key, (key, 0, Decimal(0), 0.0, 0.0))
        evses, down = capacity.get(key, (None, None))
        utilisation = connected / (evses * window_hours) if evses and window_hours else None
        rows.append(UsageRow(key, n, kwh, connected, charging, evses, utilisation, down))
    return rows
