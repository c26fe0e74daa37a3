"""Read the analytics input of one operator from the store (SQLite or PostgreSQL) into Arrow tables.

Plain SQLAlchemy Core selects, identical on both backends; DuckDB never touches the store. Per session it joins
the charger's location, the driver, the CDR (totals, charging vs parking time), the settled payment (captured
or debited amount; a card total above the hold adds its second charge) and the highest ``Power.Active.Import``
meter value. The store does not record a connector's rated power, so ``connector_max_kw`` stays empty and the
impossible-power rule falls back to the most a public charger delivers (``AnomalyRules.unknown_connector_max_kw``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlalchemy import Float, cast, func, select

from voltbill.adapters.analytics.schema import AnalyticsInput, from_rows, make_input
from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.one_of import one_of
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.adapters.store.tables.registry import ChargePoint, Driver, Location
from voltbill.adapters.store.tables.sessions import (
    CdrRow,
    ConnectorStatusHistoryRow,
    ConnectorStatusRow,
    MeterValueRow,
    SessionRow,
)

BATCH = 20_000
SETTLED = ("captured", "paid")
_POWER = "Power.Active.Import"
_TO_KW = {"W": Decimal("0.001"), "kW": Decimal(1)}


def load_input(uow: UnitOfWork, operator_id: str) -> AnalyticsInput:
    """Everything the analyses read for ``operator_id``, as conforming Arrow tables."""
    locations = _locations(uow, operator_id)
    sessions = pa.concat_tables(
        [from_rows("sessions", batch) for batch in _session_batches(uow, operator_id, locations)]
        or [from_rows("sessions", [])]
    )
    return make_input(
        sessions=sessions,
        locations=from_rows("locations", locations.values()),
        evses=from_rows("evses", _evses(uow, operator_id)),
        status_events=from_rows("status_events", _status_events(uow, operator_id)),
    )


def _locations(uow: UnitOfWork, operator_id: str) -> dict[str, dict[str, Any]]:
    rows = uow.session.execute(select(Location).where(Location.operator_id == operator_id)).scalars()
    return {
        loc.id: {
            "location_id": loc.id,
            "name": loc.name,
            "city": loc.city,
            "latitude": float(loc.latitude),
            "longitude": float(loc.longitude),
            "time_zone": loc.time_zone,
        }
        for loc in rows
    }


_SESSION_COLUMNS = (
    SessionRow.id,
    SessionRow.charge_point_id,
    SessionRow.evse_id,
    SessionRow.connector_id,
    ChargePoint.location_id,
    SessionRow.driver_id,
    Driver.payment_method,
    Payment.payment_method,
    SessionRow.tariff_id,
    SessionRow.start_date_time,
    SessionRow.end_date_time,
    SessionRow.kwh,
    CdrRow.data["total_time"].as_string(),
    CdrRow.data["total_parking_time"].as_string(),
    SessionRow.meter_start_wh,
    SessionRow.meter_stop_wh,
    SessionRow.status,
    CdrRow.id.label("cdr_id"),
    SessionRow.cdr_id.label("session_cdr_id"),
    CdrRow.priced,
    CdrRow.currency,
    CdrRow.total_excl_vat,
    CdrRow.total_incl_vat,
    Payment.status,
    Payment.captured_amount,
)


def _session_batches(
    uow: UnitOfWork, operator_id: str, locations: dict[str, dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    stmt = (
        select(*_SESSION_COLUMNS)
        .join(ChargePoint, ChargePoint.id == SessionRow.charge_point_id)
        .outerjoin(Driver, Driver.id == SessionRow.driver_id)
        .outerjoin(CdrRow, CdrRow.session_id == SessionRow.id)
        .outerjoin(Payment, Payment.session_id == SessionRow.id)
        .where(ChargePoint.operator_id == operator_id)
        .order_by(SessionRow.start_date_time, SessionRow.id)
        .execution_options(yield_per=BATCH)
    )
    result = uow.session.execute(stmt)
    for partition in result.partitions():
        peaks = _peak_power_kw(uow, [row[0] for row in partition])
        rests = _second_charges(uow, [row.cdr_id for row in partition if row.cdr_id])
        yield [_session(row, peaks, rests, locations) for row in partition]


def _session(
    row: Any, peaks: dict[str, float], rests: dict[str, Decimal | None], locations: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    (sid, cp, evse, connector, location_id, driver_id, driver_method, paid_method, tariff_id, start, end, kwh,
     total_time, parking_time, meter_start, meter_stop, status, cdr_id, session_cdr_id, priced, currency, excl, incl,
     payment_status, captured) = row  # fmt: skip
    captured = captured if payment_status in SETTLED else None
    if cdr_id in rests:  # the hold's capture and the second charge, once both are settled
        rest = rests[cdr_id]
        captured = None if captured is None or rest is None else captured + rest
    return {
        "session_id": sid,
        "charge_point_id": cp,
        "evse_id": f"{cp}-{evse}",
        "connector_id": connector,
        "location_id": location_id,
        "driver_id": driver_id,
        "payment_method": paid_method or driver_method,
        "tariff_id": tariff_id,
        "start_date_time": start,
        "end_date_time": end,
        "time_zone": locations.get(location_id, {}).get("time_zone", "UTC"),
        "kwh": kwh,
        "charging_seconds": _charging_seconds(total_time, parking_time),
        "max_power_kw": peaks.get(sid),
        "meter_start_wh": meter_start,
        "meter_stop_wh": meter_stop,
        "status": status,
        "cdr_id": cdr_id or session_cdr_id,
        "currency": currency if priced else None,
        "total_cost_excl_vat": excl if priced else None,
        "total_cost_incl_vat": incl if priced else None,
        "captured_amount": captured,
    }


def _charging_seconds(total_time: Any, parking_time: Any) -> int | None:
    """OCPI 2.2.1 CDR: ``total_time`` (hours) includes ``total_parking_time``; charging is the difference."""
    if total_time is None:
        return None
    hours = Decimal(str(total_time)) - Decimal(str(parking_time or 0))
    return int(max(hours, Decimal(0)) * 3600)


def _peak_power_kw(uow: UnitOfWork, session_ids: list[str]) -> dict[str, float]:
    """The highest active power each session reported, in kW (meter values in W or kW)."""
    peaks: dict[str, float] = {}
    for start in range(0, len(session_ids), 1000):
        chunk = session_ids[start : start + 1000]
        rows = uow.session.execute(
            select(MeterValueRow.session_id, MeterValueRow.unit, func.max(cast(MeterValueRow.value, Float)))
            .where(one_of(MeterValueRow.session_id, chunk), MeterValueRow.measurand == _POWER)
            .group_by(MeterValueRow.session_id, MeterValueRow.unit)
        )
        for session_id, unit, value in rows:
            if value is None:
                continue
            kw = float(Decimal(str(value)) * _TO_KW.get(unit or "W", Decimal("0.001")))
            peaks[session_id] = max(kw, peaks.get(session_id, kw))
    return peaks


def _second_charges(uow: UnitOfWork, cdr_ids: list[str]) -> dict[str, Decimal | None]:
    """What the second charge of each CDR whose card total exceeded the hold collected (``session_rest``, booked by
    CDR, not by session); None while it is not settled."""
    rests: dict[str, Decimal | None] = {}
    for start in range(0, len(cdr_ids), 1000):
        rows = uow.session.execute(
            select(Payment.cdr_id, Payment.status, Payment.captured_amount).where(
                Payment.kind == "session_rest", one_of(Payment.cdr_id, cdr_ids[start : start + 1000])
            )
        )
        for cdr_id, status, captured in rows:
            rests[cdr_id] = captured if status in SETTLED else None
    return rests


def _evses(uow: UnitOfWork, operator_id: str) -> list[dict[str, Any]]:
    """Every EVSE seen, from connector status reports and from sessions."""
    known = select(ConnectorStatusRow.charge_point_id, ConnectorStatusRow.evse_id).union(
        select(SessionRow.charge_point_id, SessionRow.evse_id)
    )
    known_sub = known.subquery()
    rows = uow.session.execute(
        select(known_sub.c.charge_point_id, known_sub.c.evse_id, ChargePoint.location_id)
        .join(ChargePoint, ChargePoint.id == known_sub.c.charge_point_id)
        .where(ChargePoint.operator_id == operator_id)
    )
    return [
        {"evse_id": f"{cp}-{evse}", "charge_point_id": cp, "connector_id": evse, "location_id": loc}
        for cp, evse, loc in rows
    ]


def _status_events(uow: UnitOfWork, operator_id: str) -> list[dict[str, Any]]:
    h = ConnectorStatusHistoryRow
    rows = uow.session.execute(
        select(h.charge_point_id, h.evse_id, h.connector_id, h.timestamp, h.status)
        .join(ChargePoint, ChargePoint.id == h.charge_point_id)
        .where(ChargePoint.operator_id == operator_id)
    )
    return [
        {"evse_id": f"{cp}-{evse}", "charge_point_id": cp, "connector_id": connector, "timestamp": at, "status": st}
        for cp, evse, connector, at, st in rows
    ]
