"""Read side of sessions and CDRs (REST lists, a session with its live cost, stored OCPI CDRs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.registry import ChargePoint
from voltbill.adapters.store.tables.sessions import CdrRow, SessionRow
from voltbill.domain.errors import InvalidInput
from voltbill.domain.pricing.report import price_json
from voltbill.services.session_pricing import cost_session, last_activity

SESSION_STATUSES = ("active", "completed")


def _cursor(at: datetime, ident: str) -> str:
    return f"{at.isoformat()}|{ident}"


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        at, ident = cursor.split("|", 1)
        return datetime.fromisoformat(at), ident
    except ValueError as exc:
        raise InvalidInput("cursor is not one this API returned; pass next_cursor as given.", field="cursor") from exc


def session_json(row: SessionRow) -> dict[str, Any]:
    """A session as the REST API shows it (CONTRACT.md field names)."""
    return {
        "id": row.id,
        "charge_point_id": row.charge_point_id,
        "connector_id": row.connector_id,
        "evse_id": row.evse_id,
        "transaction_id": row.transaction_id,
        "protocol": row.protocol,
        "driver_id": row.driver_id,
        "id_token": row.id_token,
        "status": row.status,
        "start_date_time": row.start_date_time.isoformat(),
        "end_date_time": row.end_date_time.isoformat() if row.end_date_time else None,
        "kwh": format(row.kwh, "f") if row.kwh is not None else None,
        "stop_reason": row.stop_reason,
        "cdr_id": row.cdr_id,
        "flags": list(row.flags or []),
    }


def _owned(stmt: Select[Any], entity: Any, operator_id: str | None) -> Select[Any]:
    if operator_id is None:
        return stmt
    return stmt.join(ChargePoint, ChargePoint.id == entity.charge_point_id).where(
        ChargePoint.operator_id == operator_id
    )


def list_sessions(
    uow: UnitOfWork,
    *,
    operator_id: str | None = None,
    charge_point_id: str | None = None,
    driver_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Sessions, newest start first, as ``(items, next_cursor)``."""
    if status is not None and status not in SESSION_STATUSES:
        raise InvalidInput("status must be active or completed.", field="status")
    stmt = _owned(select(SessionRow), SessionRow, operator_id)
    for column, value in (
        (SessionRow.charge_point_id, charge_point_id),
        (SessionRow.driver_id, driver_id),
        (SessionRow.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    after = _after(cursor)
    if after is not None:
        stmt = stmt.where(
            or_(
                SessionRow.start_date_time < after[0],
                and_(SessionRow.start_date_time == after[0], SessionRow.id < after[1]),
            )
        )
    rows = list(
        uow.session.scalars(stmt.order_by(SessionRow.start_date_time.desc(), SessionRow.id.desc()).limit(limit + 1))
    )
    next_cursor = _cursor(rows[limit - 1].start_date_time, rows[limit - 1].id) if len(rows) > limit else None
    return [session_json(r) for r in rows[:limit]], next_cursor


def _session_row(uow: UnitOfWork, session_id: str, operator_id: str | None) -> SessionRow | None:
    row = uow.session.scalars(_owned(select(SessionRow), SessionRow, operator_id).where(SessionRow.id == session_id))
    return row.first()


def live_cost(uow: UnitOfWork, session_id: str, *, operator_id: str | None = None) -> dict[str, Any] | None:
    """The cost so far of an active session, as of its newest reading; ``None`` for unknown or closed sessions
    (their price is the CDR) and when no tariff applies (``error_code`` then says why)."""
    row = _session_row(uow, session_id, operator_id)
    return None if row is None else live_cost_of(uow, row)


def live_cost_of(uow: UnitOfWork, row: SessionRow) -> dict[str, Any] | None:
    """``live_cost`` of a session row already loaded."""
    if row.status != "active":
        return None
    costing = cost_session(uow, row, last_activity(uow, row))
    if costing.priced is None:
        assert costing.error is not None
        return {
            "as_of": costing.end.isoformat(),
            "currency": None,
            "total_cost": None,
            "error_code": costing.error.code,
        }
    return {
        "as_of": costing.end.isoformat(),
        "currency": costing.priced.currency,
        "total_cost": price_json(costing.priced.total_cost),
        "total_energy": format(costing.priced.total_energy, "f"),
    }


def get_session(uow: UnitOfWork, session_id: str, *, operator_id: str | None = None) -> dict[str, Any] | None:
    """One session with ``live_cost`` while it is active."""
    row = _session_row(uow, session_id, operator_id)
    if row is None:
        return None
    out = session_json(row)
    out["live_cost"] = live_cost(uow, session_id) if row.status == "active" else None
    return out


def list_cdrs(
    uow: UnitOfWork,
    *,
    operator_id: str | None = None,
    session_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Stored OCPI CDRs, newest end first, as ``(items, next_cursor)``."""
    stmt = _owned(select(CdrRow), CdrRow, operator_id)
    if session_id is not None:
        stmt = stmt.where(CdrRow.session_id == session_id)
    after = _after(cursor)
    if after is not None:
        stmt = stmt.where(
            or_(CdrRow.end_date_time < after[0], and_(CdrRow.end_date_time == after[0], CdrRow.id < after[1]))
        )
    rows = list(uow.session.scalars(stmt.order_by(CdrRow.end_date_time.desc(), CdrRow.id.desc()).limit(limit + 1)))
    next_cursor = _cursor(rows[limit - 1].end_date_time, rows[limit - 1].id) if len(rows) > limit else None
    return [r.data for r in rows[:limit]], next_cursor


def get_cdr(uow: UnitOfWork, cdr_id: str, *, operator_id: str | None = None) -> dict[str, Any] | None:
    """The stored OCPI 2.2.1 CDR JSON, or ``None``."""
    row = uow.session.scalars(_owned(select(CdrRow), CdrRow, operator_id).where(CdrRow.id == cdr_id)).first()
    return None if row is None else row.data
