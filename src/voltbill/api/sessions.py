"""``/api/v1/sessions``: charging sessions (active and completed), with the live cost of a running one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from voltbill.api.deps import OperatorDep, UowDep
from voltbill.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from voltbill.domain.errors import NotFound
from voltbill.services import charging

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


class PriceOut(BaseModel):
    """OCPI Price: decimal strings, 4 decimals (CDR rounding); ``incl_vat`` null when VAT is unknown."""

    excl_vat: str
    incl_vat: str | None


class LiveCostOut(BaseModel):
    """The cost so far, as of the newest meter reading (``as_of``); null prices with ``error_code`` when no
    tariff applies."""

    as_of: str
    currency: str | None
    total_cost: PriceOut | None
    total_energy: str | None = None
    error_code: str | None = None


class SessionOut(BaseModel):
    id: str
    charge_point_id: str
    connector_id: int
    evse_id: int
    transaction_id: str
    protocol: str
    driver_id: str | None
    id_token: str | None
    status: Literal["active", "completed"]
    start_date_time: str
    end_date_time: str | None
    kwh: str | None
    stop_reason: str | None
    cdr_id: str | None
    flags: list[str]


class SessionDetailOut(SessionOut):
    live_cost: LiveCostOut | None


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


@router.get("", summary="List charging sessions")
def list_sessions(
    caller: OperatorDep,
    uow: UowDep,
    charge_point_id: Annotated[str | None, Query(max_length=48)] = None,
    driver_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["active", "completed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SessionPage:
    """Newest first. ``kwh`` is set when the session is completed."""
    items, next_cursor = charging.list_sessions(
        uow,
        operator_id=caller.operator_id,
        charge_point_id=charge_point_id,
        driver_id=driver_id,
        status=status,
        limit=limit,
        cursor=decode_cursor(cursor),
    )
    return SessionPage.model_validate({"items": items, "next_cursor": encode_cursor(next_cursor)})


@router.get("/{session_id}", summary="Get a session with its live cost")
def get_session(session_id: str, caller: OperatorDep, uow: UowDep) -> SessionDetailOut:
    """``live_cost`` is the cost so far of an active session (the same pricing as its CDR will use)."""
    session = charging.get_session(uow, session_id, operator_id=caller.operator_id)
    if session is None:
        raise NotFound(f"session {session_id} does not exist.", code="session_not_found", field="session_id")
    return SessionDetailOut.model_validate(session)
