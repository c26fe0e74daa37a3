"""Synthetic, clean analytics input generated inside DuckDB (vectorised, deterministic, no Python loops).

Used by benchmarks, tests and demos. "Clean" means no anomaly rule fires: sessions on one EVSE never overlap,
energy equals the meter register difference, power stays under the connector's limit, every charged session
has energy and every capture equals its CDR total; per-station energy is nearly uniform, so no robust z-score
comes near 3.5. Pseudo-random numbers come from ``hash(row, salt)``, so the same arguments give the same data on
any number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from voltbill.adapters.analytics.schema import AnalyticsInput, make_input


@dataclass(frozen=True)
class City:
    """A city the generated locations are scattered around (``latitude``/``longitude`` in degrees)."""

    name: str
    latitude: float
    longitude: float
    time_zone: str


DEFAULT_CITIES = (
    City("Berlin", 52.52, 13.405, "Europe/Berlin"),
    City("Hamburg", 53.55, 9.99, "Europe/Berlin"),
    City("Munich", 48.137, 11.575, "Europe/Berlin"),
    City("Paris", 48.857, 2.352, "Europe/Paris"),
    City("Amsterdam", 52.37, 4.9, "Europe/Amsterdam"),
)

_MACROS = """
CREATE OR REPLACE MACRO rnd(i, k) AS (hash(i, k, $salt) % 1000003)::DOUBLE / 1000003;
"""

_LOCATIONS = """
CREATE TABLE g_locations AS
SELECT printf('LOC-%05d', i) AS location_id, printf('%s site %d', c.name, i) AS name, c.name AS city,
       c.latitude + (rnd(i, 'lat') - 0.5) * 0.3 AS latitude,
       c.longitude + (rnd(i, 'lon') - 0.5) * 0.5 AS longitude,
       c.time_zone
FROM range($locations) t(i) JOIN g_cities c ON c.idx = i % $n_cities
"""

_EVSES = """
CREATE TABLE g_evses AS
SELECT row_number() OVER (ORDER BY l.location_id, k) - 1 AS idx,
       printf('CP-%s-%d', l.location_id[5:], k) || '-1' AS evse_id,
       printf('CP-%s-%d', l.location_id[5:], k) AS charge_point_id,
       1 AS connector_id, l.location_id, l.time_zone,
       CASE WHEN k % 2 = 0 THEN 22.0 ELSE 50.0 END AS max_power_kw
FROM g_locations l, range($evses_per_location) t(k)
"""

# Captures are the CDR total at the currency's minor unit, half up (domain.rounding.invoice_line).
# Each EVSE gets consecutive slots of equal length; one session sits inside each slot (so none overlap).
_SESSIONS = """
CREATE TABLE g_sessions AS
WITH base AS (
    SELECT i, e.*, (i // $n_evses) AS slot_no,
           $days * 86400.0 / ceil($sessions / $n_evses) AS slot_s
    FROM range($sessions) t(i) JOIN g_evses e ON e.idx = i % $n_evses
), timed AS (
    SELECT *, least(slot_s * 0.8, 10800) * (0.35 + 0.65 * rnd(i, 'dur')) AS connected_s FROM base
), sized AS (
    SELECT *, slot_no * slot_s + rnd(i, 'off') * (slot_s - connected_s) AS offset_s,
           floor(connected_s * (0.8 + 0.1 * rnd(i, 'chg'))) AS charging_s,
           max_power_kw * (0.45 + 0.1 * rnd(i, 'pow')) AS avg_kw,
           printf('DRV-%05d', hash(i, 'drv', $salt) % 5000) AS driver_id
    FROM timed
), priced AS (
    SELECT *, round(avg_kw * charging_s / 3600, 2)::DECIMAL(18, 4) AS kwh,
           (floor(rnd(i, 'reg') * 50000000))::DECIMAL(18, 3) AS meter_start_wh,
           CASE WHEN max_power_kw > 22 THEN 'DC-FAST' ELSE 'AC-STD' END AS tariff_id,
           CASE WHEN max_power_kw > 22 THEN 0.59 ELSE 0.39 END::DECIMAL(18, 4) AS price_kwh,
           CASE WHEN max_power_kw > 22 THEN 0.50 ELSE 0 END::DECIMAL(18, 4) AS flat,
           ['card', 'wallet', 'invoice'][(1 + hash(driver_id, $salt) % 3)::BIGINT] AS payment_method
    FROM sized
), totals AS (
    SELECT *, (kwh * price_kwh + flat)::DECIMAL(18, 4) AS excl FROM priced
)
SELECT printf('S-%08d', i) AS session_id, charge_point_id, evse_id, connector_id, location_id, driver_id,
       payment_method, tariff_id,
       $start + to_microseconds(floor(offset_s * 1e6)::BIGINT) AS start_date_time,
       $start + to_microseconds(floor((offset_s + connected_s) * 1e6)::BIGINT) AS end_date_time,
       time_zone, kwh, charging_s::BIGINT AS charging_seconds, avg_kw * 1.1 AS max_power_kw,
       max_power_kw AS connector_max_kw, meter_start_wh, meter_start_wh + kwh * 1000 AS meter_stop_wh,
       'completed' AS status, printf('CDR-%08d', i) AS cdr_id, 'EUR' AS currency,
       excl AS total_cost_excl_vat, incl AS total_cost_incl_vat,
       CASE WHEN payment_method = 'invoice' THEN NULL ELSE (floor(incl * 100 + 0.5) * 0.01)::DECIMAL(18, 4) END
           AS captured_amount
FROM (SELECT *, round(excl * 1.19, 4)::DECIMAL(18, 4) AS incl FROM totals)
"""

# A two-hour fault on every EVSE each month, and about one refused start per hundred sessions.
_STATUS_EVENTS = """
CREATE TABLE g_status AS
SELECT evse_id, charge_point_id, connector_id,
       $start + to_microseconds(((m * 30 + rnd(idx * 1000 + m, 'flt') * 28) * 86400e6)::BIGINT
                                + CASE WHEN s = 'Faulted' THEN 0 ELSE 7200000000 END) AS timestamp,
       s AS status
FROM g_evses, range(greatest($days // 30, 1)) t(m), (VALUES ('Faulted'), ('Available')) v(s)
"""

_REFUSED = """
CREATE TABLE g_refused AS
SELECT e.charge_point_id, e.location_id,
       $start + to_microseconds((rnd(i, 'ref') * $days * 86400e6)::BIGINT) AS timestamp,
       'wallet balance below minimum' AS reason
FROM range($sessions // 100) t(i) JOIN g_evses e ON e.idx = hash(i, 'refevse', $salt) % $n_evses
"""


def generate_input(
    sessions: int,
    *,
    locations: int = 50,
    evses_per_location: int = 4,
    days: int = 90,
    start: datetime = datetime(2025, 1, 6, tzinfo=UTC),
    cities: tuple[City, ...] = DEFAULT_CITIES,
    salt: str = "voltbill",
) -> AnalyticsInput:
    """A clean data set: ``sessions`` completed sessions over ``days`` days from ``start`` (aware)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_MACROS.replace("$salt", _quote(salt)))
        con.execute("CREATE TABLE g_cities (idx INTEGER, name VARCHAR, latitude DOUBLE, longitude DOUBLE, "
                    "time_zone VARCHAR)")  # fmt: skip
        con.executemany("INSERT INTO g_cities VALUES (?, ?, ?, ?, ?)",
                        [(i, c.name, c.latitude, c.longitude, c.time_zone) for i, c in enumerate(cities)])  # fmt: skip
        n_evses = locations * evses_per_location
        params = {"locations": locations, "n_cities": len(cities)}
        con.execute(_LOCATIONS, params)
        con.execute(_EVSES, {"evses_per_location": evses_per_location})
        common = {"start": start, "days": days, "sessions": sessions, "n_evses": n_evses, "salt": salt}
        con.execute(_SESSIONS, common)
        con.execute(_STATUS_EVENTS, {"start": start, "days": days})
        con.execute(_REFUSED, {k: common[k] for k in ("start", "days", "sessions", "n_evses", "salt")})
        return make_input(
            sessions=con.execute("SELECT * FROM g_sessions ORDER BY session_id").fetch_arrow_table(),
            locations=con.execute("SELECT * FROM g_locations").fetch_arrow_table(),
            evses=con.execute("SELECT * FROM g_evses").fetch_arrow_table(),
            status_events=con.execute("SELECT * FROM g_status").fetch_arrow_table(),
            refused_starts=con.execute("SELECT * FROM g_refused").fetch_arrow_table(),
        )
    finally:
        con.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
