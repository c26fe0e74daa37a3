"""Planted facts for the analytics tests: a clean session to alter and a way to add sessions to a data set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from voltbill.adapters.analytics.schema import AnalyticsInput, from_rows, make_input

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
NOW = datetime(2025, 4, 7, tzinfo=UTC)

SessionFactory = Callable[..., dict[str, Any]]


def clean_session(session_id: str, **overrides: Any) -> dict[str, Any]:
    """A consistent completed session on EVSE CP-00001-0-1 (22 kW, Berlin): 10 kWh in one hour."""
    start = overrides.pop("start", START + timedelta(days=3, hours=9))
    row: dict[str, Any] = {
        "session_id": session_id,
        "charge_point_id": "CP-00001-0",
        "evse_id": "CP-00001-0-1",
        "connector_id": 1,
        "location_id": "LOC-00001",
        "driver_id": "DRV-PLANTED",
        "payment_method": "card",
        "tariff_id": "AC-STD",
        "start_date_time": start,
        "end_date_time": start + timedelta(hours=1),
        "time_zone": "Europe/Berlin",
        "kwh": Decimal("10.00"),
        "charging_seconds": 3000,
        "max_power_kw": 12.0,
        "connector_max_kw": 22.0,
        "meter_start_wh": Decimal("1000000"),
        "meter_stop_wh": Decimal("1010000"),
        "status": "completed",
        "cdr_id": f"CDR-{session_id}",
        "currency": "EUR",
        "total_cost_excl_vat": Decimal("3.9000"),
        "total_cost_incl_vat": Decimal("4.6410"),
        "captured_amount": Decimal("4.64"),
    }
    row.update(overrides)
    return row


def with_sessions(base: AnalyticsInput, rows: list[dict[str, Any]]) -> AnalyticsInput:
    """``base`` plus ``rows`` appended to its sessions."""
    sessions = pa.concat_tables([base.sessions, from_rows("sessions", rows)])
    tables = base.tables() | {"sessions": sessions}
    return make_input(**tables)
