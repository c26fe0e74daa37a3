"""The analytics input schema: the few Arrow tables every analysis reads.

The store loader, the Parquet export and the synthetic generator all produce exactly these tables, so the
queries never depend on how sessions are stored. Money and energy are exact decimals; power is a physical
measurement (float); times are UTC instants, with each row's IANA ``time_zone`` for local-time views.

- ``sessions``: one row per charging session. ``kwh`` is the billed energy, ``meter_start_wh``/``meter_stop_wh``
  the energy register (Wh) at start and stop, ``charging_seconds`` the time actually charging (vs connected),
  ``max_power_kw`` the highest power seen, ``connector_max_kw`` what the connector can deliver, ``status``
  ``active``/``completed``, ``total_cost_*`` the CDR totals in ``currency``, ``captured_amount`` what payments
  actually captured or debited (null when billed on an invoice or not settled).
- ``locations``: ``latitude``/``longitude`` in degrees and the local ``time_zone``.
- ``evses``: every EVSE (capacity), with its location and connector power.
- ``status_events``: connector status changes (OCPP StatusNotification), for availability.
- ``refused_starts``: Authorize/start attempts that were refused, for unmet demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

UTC_TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 4)
ENERGY_KWH = pa.decimal128(18, 4)
REGISTER_WH = pa.decimal128(18, 3)

SESSIONS = pa.schema(
    [
        ("session_id", pa.string()),
        ("charge_point_id", pa.string()),
        ("evse_id", pa.string()),
        ("connector_id", pa.int32()),
        ("location_id", pa.string()),
        ("driver_id", pa.string()),
        ("payment_method", pa.string()),
        ("tariff_id", pa.string()),
        ("start_date_time", UTC_TS),
        ("end_date_time", UTC_TS),
        ("time_zone", pa.string()),
        ("kwh", ENERGY_KWH),
        ("charging_seconds", pa.int64()),
        ("max_power_kw", pa.float64()),
        ("connector_max_kw", pa.float64()),
        ("meter_start_wh", REGISTER_WH),
        ("meter_stop_wh", REGISTER_WH),
        ("status", pa.string()),
        ("cdr_id", pa.string()),
        ("currency", pa.string()),
        ("total_cost_excl_vat", MONEY),
        ("total_cost_incl_vat", MONEY),
        ("captured_amount", MONEY),
    ]
)

LOCATIONS = pa.schema(
    [
        ("location_id", pa.string()),
        ("name", pa.string()),
        ("city", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("time_zone", pa.string()),
    ]
)

EVSES = pa.schema(
    [
        ("evse_id", pa.string()),
        ("charge_point_id", pa.string()),
        ("connector_id", pa.int32()),
        ("location_id", pa.string()),
        ("max_power_kw", pa.float64()),
    ]
)

STATUS_EVENTS = pa.schema(
    [
        ("evse_id", pa.string()),
        ("charge_point_id", pa.string()),
        ("connector_id", pa.int32()),
        ("timestamp", UTC_TS),
        ("status", pa.string()),
    ]
)

REFUSED_STARTS = pa.schema(
    [
        ("charge_point_id", pa.string()),
        ("location_id", pa.string()),
        ("timestamp", UTC_TS),
        ("reason", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "sessions": SESSIONS,
    "locations": LOCATIONS,
    "evses": EVSES,
    "status_events": STATUS_EVENTS,
    "refused_starts": REFUSED_STARTS,
}


@dataclass(frozen=True)
class AnalyticsInput:
    """The five input tables, each conforming to its schema in ``SCHEMAS``."""

    sessions: pa.Table
    locations: pa.Table
    evses: pa.Table
    status_events: pa.Table
    refused_starts: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        return {name: getattr(self, name) for name in SCHEMAS}

    def write_parquet(self, directory: Path) -> list[Path]:
        """Write one ``<table>.parquet`` per table into ``directory``; returns the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables().items():
            path = directory / f"{name}.parquet"
            pq.write_table(table, path, compression="zstd")
            written.append(path)
        return written


def conform(name: str, table: pa.Table) -> pa.Table:
    """``table`` with exactly the columns of schema ``name``, in order and cast to their types."""
    schema = SCHEMAS[name]
    return pa.table([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def from_rows(name: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build table ``name`` from dict rows (missing keys are null)."""
    schema = SCHEMAS[name]
    return pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema} for row in rows], schema=schema)


def make_input(**tables: pa.Table) -> AnalyticsInput:
    """An ``AnalyticsInput`` from the given tables, conformed; tables not given are empty."""
    unknown = set(tables) - set(SCHEMAS)
    if unknown:
        raise ValueError(f"unknown analytics tables: {sorted(unknown)}")
    full = {name: conform(name, tables[name]) if name in tables else schema.empty_table()
            for name, schema in SCHEMAS.items()}  # fmt: skip
    return AnalyticsInput(**full)
