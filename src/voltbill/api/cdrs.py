"""``/api/v1/cdrs``: priced OCPI 2.2.1 CDRs, one per completed session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from voltbill.api.deps import OperatorDep, UowDep
from voltbill.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from voltbill.domain.errors import NotFound
from voltbill.services import charging

router = APIRouter(prefix="/api/v1/cdrs", tags=["cdrs"])


class CdrPage(BaseModel):
    """OCPI 2.2.1 CDR objects; an unpriced one (no tariff applied) has ``total_cost`` null and
    ``voltbill_pricing_error`` with the reason."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@router.get("", summary="List CDRs")
def list_cdrs(
    caller: OperatorDep,
    uow: UowDep,
    session_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CdrPage:
    items, next_cursor = charging.list_cdrs(
        uow, operator_id=caller.operator_id, session_id=session_id, limit=limit, cursor=decode_cursor(cursor)
    )
    return CdrPage(items=items, next_cursor=encode_cursor(next_cursor))


@router.get("/{cdr_id}", summary="Get a CDR")
def get_cdr(cdr_id: str, caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    """The OCPI 2.2.1 CDR JSON as stored."""
    cdr = charging.get_cdr(uow, cdr_id, operator_id=caller.operator_id)
    if cdr is None:
        raise NotFound(f"CDR {cdr_id} does not exist.", code="cdr_not_found", field="cdr_id")
    return cdr
