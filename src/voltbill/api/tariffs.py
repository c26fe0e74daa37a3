"""``/api/v1/tariffs``: OCPI 2.2.1 Tariffs, stored as versions (each changed PUT is valid from then on)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from voltbill.api.deps import ClockDep, OperatorDep, UowDep
from voltbill.api.errors import PROBLEM_RESPONSES
from voltbill.api.ids import TariffId
from voltbill.api.pagination import Cursor, Limit, PageOut, decode_cursor, page_body
from voltbill.domain.errors import InvalidInput, NotFound
from voltbill.services import registry

router = APIRouter(prefix="/api/v1/tariffs", tags=["tariffs"], responses=PROBLEM_RESPONSES)

_PRICE = {
    "type": "object",
    "required": ["excl_vat"],
    "properties": {"excl_vat": {"type": ["number", "string"]}, "incl_vat": {"type": ["number", "string", "null"]}},
}
# OCPI 2.2.1 mod_tariffs §11.3.1 Tariff object, as a request schema for /docs and API clients; the strict check
# (with the failing JSON path in the 422) is voltbill.domain.tariffs.parse_tariff.
TARIFF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["currency", "elements"],
    "properties": {
        "id": {"type": "string", "maxLength": 36},
        "country_code": {"type": "string", "minLength": 2, "maxLength": 2},
        "party_id": {"type": "string", "minLength": 3, "maxLength": 3},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "type": {"enum": ["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]},
        "tariff_alt_text": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["language", "text"],
                "properties": {"language": {"type": "string"}, "text": {"type": "string"}},
            },
        },
        "min_price": _PRICE,
        "max_price": _PRICE,
        "elements": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["price_components"],
                "properties": {
                    "price_components": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "price", "step_size"],
                            "properties": {
                                "type": {"enum": ["ENERGY", "FLAT", "PARKING_TIME", "TIME"]},
                                "price": {"type": ["number", "string"]},
                                "vat": {"type": ["number", "string", "null"]},
                                "step_size": {"type": "integer", "minimum": 0},
                            },
                        },
                    },
                    "restrictions": {"type": "object"},
                },
            },
        },
        "start_date_time": {"type": "string", "format": "date-time"},
        "end_date_time": {"type": "string", "format": "date-time"},
    },
}
_OCPI_TARIFF = {"content": {"application/json": {"schema": {"type": "object", "description": "OCPI 2.2.1 Tariff"}}}}


async def json_body(request: Request) -> Any:
    """The request body as JSON with numbers kept as ``Decimal`` (money never passes through float)."""
    raw = await request.body()
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidInput("the request body is not valid JSON.", field="$") from exc


@router.put(
    "/{tariff_id}",
    summary="Create or replace a tariff",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": TARIFF_SCHEMA}}}},
    responses={200: _OCPI_TARIFF, 201: _OCPI_TARIFF},
)
def put_tariff(
    tariff_id: TariffId,
    body: Annotated[Any, Depends(json_body)],
    caller: OperatorDep,
    uow: UowDep,
    clock: ClockDep,
    response: Response,
) -> dict[str, Any]:
    """Store the tariff as a new version valid from now (201 when new, 200 when replaced or unchanged).

    Sending the same body again changes nothing. Sessions keep the version that was valid when they started.
    """
    record, created = registry.upsert_tariff(uow, caller.operator_id, tariff_id, body, clock=clock)
    response.status_code = 201 if created else 200
    return record.data


@router.get("", summary="List tariffs (newest version of each)")
def list_tariffs(caller: OperatorDep, uow: UowDep, limit: Limit = 50, cursor: Cursor = None) -> PageOut[dict[str, Any]]:
    page = registry.list_tariffs(uow, caller.operator_id, limit=limit, after=decode_cursor(cursor))
    return PageOut.model_validate(page_body([r.data for r in page.items], page.next_cursor))


@router.get("/{tariff_id}", summary="Get a tariff (newest version)", responses={200: _OCPI_TARIFF})
def get_tariff(tariff_id: TariffId, caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    record = registry.get_tariff(uow, caller.operator_id, tariff_id)
    if record is None:
        raise NotFound(f"tariff {tariff_id} does not exist.", code="tariff_not_found")
    return record.data


class TariffVersionOut(BaseModel):
    """One stored version: ``valid_from`` is when it took effect; sessions started from then on use it."""

    version: int
    valid_from: datetime
    tariff: dict[str, Any]


@router.get("/{tariff_id}/versions", summary="Every version of a tariff, oldest first")
def list_tariff_versions(tariff_id: TariffId, caller: OperatorDep, uow: UowDep) -> list[TariffVersionOut]:
    versions = registry.tariff_versions(uow, caller.operator_id, tariff_id)
    if not versions:
        raise NotFound(f"tariff {tariff_id} does not exist.", code="tariff_not_found")
    return [TariffVersionOut(version=v.version, valid_from=v.valid_from, tariff=v.data) for v in versions]
