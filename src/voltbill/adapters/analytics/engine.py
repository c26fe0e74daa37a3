"""The DuckDB engine: loads the analytics input (Arrow tables or a Parquet export) once, then answers queries.

Loading materialises ``sessions`` with local-time columns (``start_local``, ``end_local``, via DuckDB's
statically linked ICU), ``connected_us`` (integer microseconds, so sums are exact and do not depend on
thread scheduling) and the previous session on the same EVSE (``prev_*``), plus ``session_hours`` (energy per
local hour) and ``queue_waits``, so each query is a scan and a group-by. Extensions are never
downloaded: auto-install and auto-load are off, and only statically linked ones (icu, parquet, json) are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voltbill.adapters.analytics.schema import SCHEMAS, AnalyticsInput
from voltbill.domain.clock import ensure_utc


@dataclass(frozen=True)
class Filters:
    """The common filters. ``start`` inclusive, ``end`` exclusive, on session start.

    A naive ``start``/``end`` is read in each station's local time (so "June" means June where the station is);
    an aware one is an instant. ``location_id`` keeps one location.
    """

    start: datetime | None = None
    end: datetime | None = None
    location_id: str | None = None

    def where(self, alias: str = "s") -> tuple[str, dict[str, Any]]:
        """An SQL condition on sessions ``alias`` and its named parameters."""
        parts, params = ["TRUE"], {}
        for name, bound, op in (("f_start", self.start, ">="), ("f_end", self.end, "<")):
            if bound is None:
                continue
            if bound.tzinfo is None:
                parts.append(f"{alias}.start_local {op} ${name}")
                params[name] = bound
            else:
                parts.append(f"{alias}.start_date_time {op} ${name}")
                params[name] = ensure_utc(bound)
        if self.location_id is not None:
            parts.append(f"{alias}.location_id = $f_location")
            params["f_location"] = self.location_id
        return " AND ".join(parts), params


# Local time through a small table of UTC offsets per time zone and UTC day (at the day's start and the next
# day's start), so ICU converts a few thousand instants instead of every session twice. Only on a day whose two
# offsets differ (a DST change) is the session's instant converted exactly.
_TZ_DAYS = """
CREATE TABLE tz_days AS
WITH used AS (
    SELECT DISTINCT time_zone, epoch_us(t) // 86400000000 AS day FROM (
        SELECT time_zone, start_date_time AS t FROM raw_sessions
        UNION ALL SELECT time_zone, coalesce(end_date_time, $now) AS t FROM raw_sessions
    )
)
SELECT time_zone, day,
       timezone(time_zone, to_timestamp(day * 86400)) - to_timestamp(day * 86400)::TIMESTAMP AS utc_offset,
       timezone(time_zone, to_timestamp((day + 1) * 86400)) - to_timestamp((day + 1) * 86400)::TIMESTAMP
           AS next_offset
FROM used
"""

_DERIVED_SESSIONS = """
CREATE TABLE sessions AS
SELECT r.*,
       CASE WHEN so.utc_offset = so.next_offset THEN r.start_date_time::TIMESTAMP + so.utc_offset
            ELSE timezone(r.time_zone, r.start_date_time) END AS start_local,
       CASE WHEN eo.utc_offset = eo.next_offset THEN coalesce(r.end_date_time, $now)::TIMESTAMP + eo.utc_offset
            ELSE timezone(r.time_zone, coalesce(r.end_date_time, $now)) END AS end_local,
       greatest(epoch_us(coalesce(r.end_date_time, $now) - r.start_date_time), 0) AS connected_us,
       lag(r.session_id) OVER evse AS prev_session_id, lag(r.start_date_time) OVER evse AS prev_start,
       lag(r.driver_id) OVER evse AS prev_driver_id, lag(r.kwh) OVER evse AS prev_kwh
FROM raw_sessions r
LEFT JOIN tz_days so ON so.time_zone = r.time_zone AND so.day = epoch_us(r.start_date_time) // 86400000000
LEFT JOIN tz_days eo
  ON eo.time_zone = r.time_zone AND eo.day = epoch_us(coalesce(r.end_date_time, $now)) // 86400000000
WINDOW evse AS (PARTITION BY r.evse_id ORDER BY r.start_date_time, r.session_id)
"""

# How long before its start a location last became free while every EVSE there was busy: an occupancy sweep
# (+1 at each start, -1 at each end; ends first at equal times), then the latest such "full" end before each
# start. Queueing is a physical fact, so it is computed once over all sessions, not per filter.
_QUEUE_WAITS = """
CREATE TABLE queue_waits AS
WITH s AS (
    SELECT session_id, location_id, start_local, start_date_time, coalesce(end_date_time, $now) AS end_date_time
    FROM sessions WHERE location_id IS NOT NULL
),
cap AS (SELECT location_id, count(*) AS evses FROM evses GROUP BY 1),
ev AS (
    SELECT location_id, start_date_time AS t, 1 AS d FROM s
    UNION ALL SELECT location_id, end_date_time AS t, -1 AS d FROM s
),
occ AS (
    SELECT location_id, t, d, sum(d) OVER (PARTITION BY location_id ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS busy
    FROM ev
),
full_ends AS (
    SELECT o.location_id, o.t AS ended FROM occ o JOIN cap USING (location_id)
    WHERE o.d = -1 AND o.busy + 1 >= cap.evses
)
SELECT s.session_id, s.location_id, s.start_local, s.start_date_time,
       epoch_us(s.start_date_time) - epoch_us(f.ended) AS wait_us
FROM s ASOF JOIN full_ends f ON s.location_id = f.location_id AND s.start_date_time >= f.ended
"""

# Each session's energy spread over the local clock hours it was connected (for the peak-hours heatmap).
_SESSION_HOURS = """
CREATE TABLE session_hours AS
WITH x AS (
    SELECT location_id, start_local, start_date_time, end_local, connected_us, kwh::DOUBLE AS kwh,
           unnest(generate_series(date_trunc('hour', start_local), end_local, INTERVAL 1 HOUR)) AS h
    FROM sessions WHERE connected_us > 0 AND kwh IS NOT NULL
)
SELECT location_id, start_local, start_date_time, isodow(h) AS weekday, hour(h) AS hour,
       kwh * epoch_us(least(end_local, h + INTERVAL 1 HOUR) - greatest(start_local, h))
           / epoch_us(end_local - start_local) AS kwh
FROM x WHERE h < end_local
"""


class AnalyticsEngine:
    """An in-process DuckDB database holding one snapshot of the analytics input.

    ``now`` (aware) closes still-active sessions for time sums and decides which ones are stale.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, now: datetime) -> None:
        self.con = connection
        self.now = ensure_utc(now)
        for name in SCHEMAS:
            if name != "sessions":
                self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM raw_{name}")
        self.con.execute(_TZ_DAYS, {"now": self.now})
        self.con.execute(_DERIVED_SESSIONS, {"now": self.now})
        self.con.execute(_SESSION_HOURS)
        self.con.execute(_QUEUE_WAITS, {"now": self.now})
        for name in SCHEMAS:
            self.con.execute(f"DROP VIEW raw_{name}")

    @classmethod
    def from_input(cls, data: AnalyticsInput, now: datetime) -> AnalyticsEngine:
        """An engine over in-memory Arrow tables."""
        con = _connect()
        for name, table in data.tables().items():
            con.register(f"arrow_{name}", table)
            con.execute(f"CREATE VIEW raw_{name} AS SELECT * FROM arrow_{name}")
        engine = cls(con, now)
        for name in SCHEMAS:
            con.unregister(f"arrow_{name}")
        return engine

    @classmethod
    def from_parquet(cls, directory: Path, now: datetime) -> AnalyticsEngine:
        """An engine reading a Parquet export (``<table>.parquet`` per table; a missing file is an empty table)."""
        con = _connect()
        for name, schema in SCHEMAS.items():
            path = directory / f"{name}.parquet"
            if path.exists():
                literal = "'" + str(path).replace("'", "''") + "'"  # DDL takes no parameters
                con.execute(f"CREATE VIEW raw_{name} AS SELECT * FROM read_parquet({literal})")
            else:
                con.register(f"arrow_{name}", schema.empty_table())
                con.execute(f"CREATE VIEW raw_{name} AS SELECT * FROM arrow_{name}")
        return cls(con, now)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` with named parameters and return all rows (through Arrow: aware datetimes use zoneinfo)."""
        table = self.arrow(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` and return an Arrow table. Each call uses its own cursor, so threads may share the engine."""
        cursor = self.con.cursor()
        try:
            return cursor.execute(sql, params or {}).fetch_arrow_table()
        finally:
            cursor.close()

    def span(self, filters: Filters) -> tuple[datetime, datetime] | None:
        """The local-time window an analysis covers: the filter bounds, else the sessions' first start and last end.

        Aware filter bounds are shown in UTC. ``None`` when there is nothing to cover.
        """
        cond, params = filters.where()
        first, last = self.rows(f"SELECT min(start_local), max(end_local) FROM sessions s WHERE {cond}", params)[0]
        start = _naive(filters.start) if filters.start is not None else first
        end = _naive(filters.end) if filters.end is not None else last
        if start is None or end is None or end <= start:
            return None
        return start, end

    def span_seconds(self, filters: Filters) -> float:
        """Length of ``span`` in seconds (0 when there is nothing)."""
        window = self.span(filters)
        return (window[1] - window[0]) / timedelta(seconds=1) if window else 0.0

    def close(self) -> None:
        self.con.close()


def _naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else ensure_utc(moment).replace(tzinfo=None)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    return con
