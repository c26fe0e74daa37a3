"""``/api/v1/cdrs``: priced OCPI 2.2.1 CDRs, one per completed session.

OCPI 2.2.1 types.asciidoc, number: volumes are JSON numbers. Pydantic writes a ``Decimal`` as a string (or, via
float, with binary round-off), so the routes answer the stored CDR through ``json_text`` and the models below only
describe it in the OpenAPI document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from voltbill.api.deps import OperatorDep, UowDep
from voltbill.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from voltbill.api.sessions import PriceOut
from voltbill.domain import json_text
from voltbill.domain.errors import NotFound
from voltbill.services import charging

router = APIRouter(prefix="/api/v1/cdrs", tags=["cdrs"])

Volume = Annotated[Decimal, WithJsonSchema({"type": "number", "description": "exact decimal, e.g. 12.3450"})]


class ExactJSONResponse(JSONResponse):
    """JSON whose ``Decimal`` values are numbers with their exact digits."""

    def render(self, content: Any) -> bytes:
        return json_text.dumps(content).encode()


class CdrDimensionOut(BaseModel):
    """OCPI CdrDimension: ``volume`` in kWh (ENERGY), hours (TIME, PARKING_TIME, RESERVATION_TIME), A or kW."""

    type: str
    volume: Volume


class ChargingPeriodOut(BaseModel):
    start_date_time: str
    dimensions: list[CdrDimensionOut]
    tariff_id: str | None = None


class CdrOut(BaseModel):
    """An OCPI 2.2.1 CDR (mod_cdrs), fields as the standard names them; those not listed here (``cdr_token``,
    ``cdr_location``, ``tariffs``, every ``total_*_cost``, ...) are present as well. Volumes are JSON numbers
    (``total_energy`` kWh, ``total_time`` and ``total_parking_time`` hours, 4 decimals); amounts are Price objects
    of decimal strings. An unpriced CDR (no tariff applied) has ``total_cost`` null, no time totals and
    ``voltbill_pricing_error`` with the reason."""

    model_config = ConfigDict(extra="allow")

    id: str
    start_date_time: str
    end_date_time: str
    charging_periods: list[ChargingPeriodOut]
    total_cost: PriceOut | None
    total_energy: Volume
    total_time: Volume | None = None
    total_parking_time: Volume | None = None


class CdrPage(BaseModel):
    items: list[CdrOut]
    next_cursor: str | None


@router.get("", summary="List CDRs", response_model=CdrPage)
def list_cdrs(
    caller: OperatorDep,
    uow: UowDep,
    session_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ExactJSONResponse:
    items, next_cursor = charging.list_cdrs(
        uow, operator_id=caller.operator_id, session_id=session_id, limit=limit, cursor=decode_cursor(cursor)
    )
    return ExactJSONResponse({"items": items, "next_cursor": encode_cursor(next_cursor)})


@router.get("/{cdr_id}", summary="Get a CDR", response_model=CdrOut)
def get_cdr(cdr_id: str, caller: OperatorDep, uow: UowDep) -> ExactJSONResponse:
    """The OCPI 2.2.1 CDR JSON as stored."""
    cdr = charging.get_cdr(uow, cdr_id, operator_id=caller.operator_id)
    if cdr is None:
        raise NotFound(f"CDR {cdr_id} does not exist.", code="cdr_not_found", field="cdr_id")
    return ExactJSONResponse(cdr)
