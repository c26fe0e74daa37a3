"""Turning a stored session into charging periods and a price: the live cost while it runs, the CDR when it ends.

Both go through the same steps (meter values + connector states -> ``build_charging_periods`` -> ``price_session``
with the tariff version valid at session start, in the station's time zone), so the final CDR equals the last live
cost for the same meter data.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.sessions import CdrRow, ConnectorStatusHistoryRow, MeterValueRow, SessionRow
from voltbill.domain.errors import VoltbillError
from voltbill.domain.pricing.periods import (
    ConnectorState,
    MeterSample,
    SessionToPrice,
    build_charging_periods,
    periods_json,
)
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.sessions import CURRENT, ENERGY_REGISTER, POWER, is_charging
from voltbill.services import registry

_MEASURANDS = (ENERGY_REGISTER, POWER, CURRENT)


@dataclass(frozen=True)
class _Statements:
    samples: Select[Any]
    states: Select[Any]
    newest_reading: Select[Any]


@functools.cache
def _statements() -> _Statements:
    """The reads of every live cost and every stop, built once and run on the connection (values go in as bind
    parameters): built and run through the ORM per call, they cost more CPU than the rows they read
    (benchmarks/session_pricing.py)."""
    mv, history = MeterValueRow.__table__.c, ConnectorStatusHistoryRow.__table__.c
    start, end = bindparam("start", type_=mv.timestamp.type), bindparam("end", type_=mv.timestamp.type)
    samples = (
        select(mv.timestamp, mv.measurand, mv.value)
        .where(
            mv.session_id == bindparam("session_id"),
            mv.phase == "",
            mv.measurand.in_(_MEASURANDS),
            mv.timestamp >= start,
            mv.timestamp <= end,
        )
        .order_by(mv.timestamp)
    )
    states = (
        select(history.timestamp, history.status)
        .where(
            history.charge_point_id == bindparam("charge_point_id"),
            history.evse_id == bindparam("evse_id"),
            history.connector_id == bindparam("connector_id"),
            history.timestamp >= start,
            history.timestamp <= end,
        )
        .order_by(history.timestamp, history.id)
    )
    newest_reading = (
        select(mv.timestamp).where(mv.session_id == bindparam("session_id")).order_by(mv.timestamp.desc()).limit(1)
    )
    return _Statements(samples, states, newest_reading)


@dataclass(frozen=True)
class Costing:
    """A session priced up to ``end``: ``priced`` is the domain ``PricedSession`` (``None`` with ``error`` set when
    it could not be priced), ``session`` the ``SessionToPrice``, ``tariff`` the tariff used, ``location`` and
    ``time_zone`` the station's."""

    end: datetime
    session: SessionToPrice
    priced: Any
    tariff: Any
    location: dict[str, Any]
    error: VoltbillError | None


def _samples(uow: UnitOfWork, row: SessionRow, end: datetime, final_wh: Decimal | None) -> list[MeterSample]:
    values = uow.session.connection().execute(
        _statements().samples, {"session_id": row.id, "start": row.start_date_time, "end": end}
    )
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for at, measurand, value in values:
        by_time.setdefault(at, {})[measurand] = value
    start_wh = row.meter_start_wh
    if start_wh is None:  # no reading at start: the first one stands for it
        firsts = [r[ENERGY_REGISTER] for r in by_time.values() if ENERGY_REGISTER in r]
        start_wh = firsts[0] if firsts else final_wh if final_wh is not None else Decimal(0)
    samples = [MeterSample(row.start_date_time, start_wh)]
    for at, reading in by_time.items():
        if ENERGY_REGISTER in reading and at > row.start_date_time:
            samples.append(MeterSample(at, reading[ENERGY_REGISTER], reading.get(POWER), reading.get(CURRENT)))
        elif at == row.start_date_time and (POWER in reading or CURRENT in reading):
            samples[0] = MeterSample(at, start_wh, reading.get(POWER), reading.get(CURRENT))
    if final_wh is not None:
        if samples[-1].timestamp == end:
            samples.pop()
        samples.append(MeterSample(end, final_wh))
    return samples


def _states(uow: UnitOfWork, row: SessionRow, end: datetime) -> list[ConnectorState]:
    history = uow.session.connection().execute(
        _statements().states,
        {
            "charge_point_id": row.charge_point_id,
            "evse_id": row.evse_id,
            "connector_id": row.connector_id,
            "start": row.start_date_time,
            "end": end,
        },
    )
    states = []
    for at, status in history:
        charging = is_charging(status)
        if charging is not None:
            states.append(ConnectorState(at, charging))
    return states


def last_activity(uow: UnitOfWork, row: SessionRow) -> datetime:
    """When the newest reading or state change of an active session happened (what its live cost is as of)."""
    newest = [row.start_date_time]
    reading = uow.session.connection().execute(_statements().newest_reading, {"session_id": row.id}).scalar()
    if reading is not None:
        newest.append(reading)
    return max(newest)


def cost_session(uow: UnitOfWork, row: SessionRow, end: datetime, final_wh: Decimal | None = None) -> Costing:
    """Price ``row`` from its start up to ``end`` (with ``final_wh`` as the register at ``end`` when known)."""
    end = max(end, row.start_date_time)
    cp = registry.get_charge_point(uow, row.charge_point_id)
    location = cp.location if cp else {}
    periods = build_charging_periods(
        row.start_date_time, end, _samples(uow, row, end, final_wh), _states(uow, row, end)
    )
    session = SessionToPrice(row.start_date_time, end, tuple(periods))
    try:
        if cp is None or not row.tariff_id:
            raise VoltbillError(
                f"charge point {row.charge_point_id} has no tariff; assign one and re-price the CDR.",
                code="tariff_missing",
                field="tariff_id",
            )
        tariff = registry.tariff_at(uow, row.tariff_id, row.start_date_time)
        priced = price_session(tariff, session, ZoneInfo(cp.time_zone))
    except VoltbillError as exc:
        return Costing(end, session, None, None, location, exc)
    return Costing(end, session, priced, tariff, location, None)


def _cdr_extra(row: SessionRow, location: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": row.id,
        "auth_method": "WHITELIST",
        "cdr_token": {"uid": row.id_token or "", "type": "RFID", "contract_id": row.driver_id or row.id_token or ""},
        "cdr_location": {
            **location,
            "evse_uid": f"{row.charge_point_id}-{row.evse_id}",
            "evse_id": f"{row.charge_point_id}-{row.evse_id}",
            "connector_id": str(row.connector_id),
        },
    }


def _unpriced_cdr(row: SessionRow, costing: Costing, cdr_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    """An OCPI-shaped CDR without costs, naming why it could not be priced (``voltbill_pricing_error``)."""
    assert costing.error is not None and row.end_date_time is not None
    return {
        "id": cdr_id,
        "start_date_time": row.start_date_time.isoformat(),
        "end_date_time": row.end_date_time.isoformat(),
        "charging_periods": periods_json(costing.session.charging_periods, row.tariff_id),
        "total_energy": row.kwh or Decimal(0),
        "total_cost": None,
        "voltbill_pricing_error": {"code": costing.error.code, "message": costing.error.message},
        **extra,
    }


def close_and_price(uow: UnitOfWork, row: SessionRow, now: datetime) -> CdrRow:
    """Build and add the CDR of a session that has just been closed (``end_date_time``/``meter_stop_wh`` set).

    Without an applicable tariff the CDR is still stored, unpriced, with the reason in ``error_code``.
    """
    assert row.end_date_time is not None and row.meter_stop_wh is not None
    costing = cost_session(uow, row, row.end_date_time, row.meter_stop_wh)
    cdr_id = f"CDR{secrets.token_hex(8).upper()}"
    extra = _cdr_extra(row, costing.location)
    total: dict[str, Any] = {}
    if costing.priced is not None:
        data = build_cdr(costing.priced, costing.tariff, costing.session, cdr_id=cdr_id, extra=extra)
        total = data["total_cost"]
    else:
        data = _unpriced_cdr(row, costing, cdr_id, extra)
        row.flags = [*(row.flags or []), "unpriced"]
    cdr = CdrRow(
        id=cdr_id,
        session_id=row.id,
        charge_point_id=row.charge_point_id,
        driver_id=row.driver_id,
        currency=costing.priced.currency if costing.priced is not None else None,
        total_excl_vat=Decimal(str(total["excl_vat"])) if total else None,
        total_incl_vat=Decimal(str(total["incl_vat"])) if total.get("incl_vat") is not None else None,
        priced=costing.priced is not None,
        error_code=costing.error.code if costing.error is not None else None,
        end_date_time=row.end_date_time,
        data=data,
        created_at=now,
    )
    uow.session.add(cdr)
    return cdr
