"""Placement: which locations (and which areas) have more demand than chargers.

Demand at a location = connected hours + hours drivers queued + refused starts x the location's mean session.
A session *queued* when it started within ``queue_minutes`` after another session at the same location ended
while every EVSE there was busy; its wait is the time between the two (``queue_waits``, computed by the engine).
Capacity = EVSEs x window hours x ``target_utilisation`` (chargers can never be 100 % busy: arrivals are
random). Areas are H3 cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters


@dataclass(frozen=True)
class LocationDemand:
    """Demand at one location: ``evses``, ``sessions``, ``connected_hours``, ``utilisation`` (0..1),
    ``queued_sessions`` and ``queue_hours``, ``refused_starts``, ``demand_hours`` and ``demand_ratio``
    (demand / capacity at the target utilisation; above 1 = demand exceeds capacity)."""

    location_id: str
    name: str | None
    latitude: float | None
    longitude: float | None
    evses: int
    sessions: int
    connected_hours: float
    utilisation: float
    queued_sessions: int
    queue_hours: float
    refused_starts: int
    demand_hours: float
    demand_ratio: float

    @property
    def exceeds_capacity(self) -> bool:
        return self.demand_ratio > 1


@dataclass(frozen=True)
class AreaDemand:
    """Demand summed over the locations of one H3 cell (``cell``, at ``resolution``), centred on
    ``latitude``/``longitude``."""

    cell: str
    resolution: int
    latitude: float
    longitude: float
    locations: int
    evses: int
    sessions: int
    queued_sessions: int
    refused_starts: int
    demand_hours: float
    capacity_hours: float
    demand_ratio: float

    @property
    def exceeds_capacity(self) -> bool:
        return self.demand_ratio > 1


_SQL = """
WITH s AS (SELECT s.location_id, s.connected_us FROM sessions s WHERE {cond} AND s.location_id IS NOT NULL),
cap AS (SELECT location_id, count(*) AS evses FROM evses GROUP BY 1),
queued AS (
    SELECT s.location_id, count(*) AS n, sum(s.wait_us) / 3.6e9 AS wait_hours
    FROM queue_waits s WHERE {cond} AND s.wait_us <= $queue_us GROUP BY 1
),
used AS (SELECT location_id, count(*) AS sessions, sum(connected_us) / 3.6e9 AS hours FROM s GROUP BY 1),
refused AS (
    SELECT r.location_id, count(*) AS n FROM refused_starts r LEFT JOIN locations l2 USING (location_id)
    WHERE r.location_id IS NOT NULL {refused_cond} GROUP BY 1
)
SELECT c.location_id, l.name, l.latitude, l.longitude, c.evses, coalesce(u.sessions, 0), coalesce(u.hours, 0),
       coalesce(q.n, 0), coalesce(q.wait_hours, 0), coalesce(r.n, 0)
FROM cap c
LEFT JOIN locations l USING (location_id)
LEFT JOIN used u USING (location_id)
LEFT JOIN queued q USING (location_id)
LEFT JOIN refused r USING (location_id)
WHERE $f_location IS NULL OR c.location_id = $f_location
"""


def location_demand(
    engine: AnalyticsEngine, filters: Filters, *, queue_minutes: int = 15, target_utilisation: float = 0.8
) -> list[LocationDemand]:
    """Every location with EVSEs, ranked by ``demand_ratio`` (highest first)."""
    cond, params = filters.where()
    refused_cond = _refused_condition(filters)
    window_hours = engine.span_seconds(filters) / 3600
    sql = _SQL.format(cond=cond, refused_cond=refused_cond)
    params = {**params, "queue_us": queue_minutes * 60_000_000, "f_location": filters.location_id}
    rows = []
    for loc, name, lat, lon, evses, sessions, hours, queued, wait, refused in engine.rows(sql, params):
        mean_session = hours / sessions if sessions else 0.0
        demand = hours + wait + refused * mean_session
        capacity = evses * window_hours
        rows.append(
            LocationDemand(
                location_id=loc,
                name=name,
                latitude=lat,
                longitude=lon,
                evses=evses,
                sessions=sessions,
                connected_hours=hours,
                utilisation=hours / capacity if capacity else 0.0,
                queued_sessions=queued,
                queue_hours=wait,
                refused_starts=refused,
                demand_hours=demand,
                demand_ratio=demand / (capacity * target_utilisation) if capacity else 0.0,
            )
        )
    return sorted(rows, key=lambda r: (-r.demand_ratio, r.location_id))


def area_demand(
    locations: list[LocationDemand], *, resolution: int = 7, target_utilisation: float = 0.8, window_hours: float
) -> list[AreaDemand]:
    """``locations`` grouped into H3 cells of ``resolution`` (7 is about 5 km²), ranked by demand ratio.

    Locations without coordinates are left out.
    """
    cells: dict[str, list[LocationDemand]] = {}
    for loc in locations:
        if loc.latitude is None or loc.longitude is None:
            continue
        cells.setdefault(h3.latlng_to_cell(loc.latitude, loc.longitude, resolution), []).append(loc)
    areas = []
    for cell, members in cells.items():
        lat, lon = h3.cell_to_latlng(cell)
        evses = sum(m.evses for m in members)
        demand = sum(m.demand_hours for m in members)
        capacity = evses * window_hours * target_utilisation
        areas.append(
            AreaDemand(
                cell=cell,
                resolution=resolution,
                latitude=lat,
                longitude=lon,
                locations=len(members),
                evses=evses,
                sessions=sum(m.sessions for m in members),
                queued_sessions=sum(m.queued_sessions for m in members),
                refused_starts=sum(m.refused_starts for m in members),
                demand_hours=demand,
                capacity_hours=capacity,
                demand_ratio=demand / capacity if capacity else 0.0,
            )
        )
    return sorted(areas, key=lambda a: (-a.demand_ratio, a.cell))


def _refused_condition(filters: Filters) -> str:
    """Refused starts use the same window; naive bounds are read in the location's local time."""
    parts = []
    for name, bound, op in (("f_start", filters.start, ">="), ("f_end", filters.end, "<")):
        if bound is None:
            continue
        column = "timezone(coalesce(l2.time_zone, 'UTC'), r.timestamp)" if bound.tzinfo is None else "r.timestamp"
        parts.append(f"AND {column} {op} ${name}")
    return " ".join(parts)
