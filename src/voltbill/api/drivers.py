"""``/api/v1/drivers``: drivers (who pays, how) and their id tokens (what chargers send)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from voltbill.api.deps import ClockDep, OperatorDep, UowDep
from voltbill.api.errors import PROBLEM_RESPONSES
from voltbill.api.ids import DriverId, JsonObject, Text, TokenUid
from voltbill.api.pagination import Cursor, Limit, PageOut, decode_cursor, encode_cursor
from voltbill.domain.errors import NotFound
from voltbill.services import registry

router = APIRouter(prefix="/api/v1/drivers", tags=["drivers"], responses=PROBLEM_RESPONSES)


class DriverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    email: Text = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ana@example.com"])
    payment_method: Literal["wallet", "card", "invoice"]
    billing_address: JsonObject | None = None
    locale: Text | None = Field(default=None, pattern=r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$", examples=["nl_NL"])


class DriverOut(DriverIn):
    id: str


class TokenIn(BaseModel):
    """``type`` as OCPI 2.2.1 TokenType; ``status`` ``blocked`` makes chargers refuse the token."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["RFID", "APP_USER", "AD_HOC_USER"]
    status: Literal["valid", "blocked"] = "valid"


class TokenOut(BaseModel):
    uid: str
    driver_id: str
    type: str
    status: str


def _driver_out(d: registry.DriverInfo) -> DriverOut:
    return DriverOut(
        id=d.id,
        name=d.name,
        email=d.email,
        payment_method=d.payment_method,  # type: ignore[arg-type]
        billing_address=d.billing_address,
        locale=d.locale,
    )


def _token_out(t: registry.TokenInfo) -> TokenOut:
    return TokenOut(uid=t.uid, driver_id=t.driver_id or "", type=t.type or "", status=t.token_status or "")


@router.put("/{driver_id}", summary="Register or replace a driver", responses={201: {"model": DriverOut}})
def put_driver(
    driver_id: DriverId, body: DriverIn, caller: OperatorDep, uow: UowDep, clock: ClockDep, response: Response
) -> DriverOut:
    info, created = registry.upsert_driver(
        uow,
        caller.operator_id,
        driver_id,
        name=body.name,
        email=body.email,
        payment_method=body.payment_method,
        billing_address=body.billing_address,
        locale=body.locale,
        clock=clock,
    )
    response.status_code = 201 if created else 200
    return _driver_out(info)


@router.get("", summary="List drivers")
def list_drivers(caller: OperatorDep, uow: UowDep, limit: Limit = 50, cursor: Cursor = None) -> PageOut[DriverOut]:
    page = registry.list_drivers(uow, caller.operator_id, limit=limit, after=decode_cursor(cursor))
    return PageOut(items=[_driver_out(d) for d in page.items], next_cursor=encode_cursor(page.next_cursor))


@router.get("/{driver_id}", summary="Get a driver")
def get_driver(driver_id: DriverId, caller: OperatorDep, uow: UowDep) -> DriverOut:
    info = registry.get_driver(uow, driver_id, operator_id=caller.operator_id)
    if info is None:
        raise NotFound(f"driver {driver_id} does not exist.", code="driver_not_found")
    return _driver_out(info)


@router.put(
    "/{driver_id}/tokens/{uid}", summary="Register or replace an id token", responses={201: {"model": TokenOut}}
)
def put_token(
    driver_id: DriverId,
    uid: TokenUid,
    body: TokenIn,
    caller: OperatorDep,
    uow: UowDep,
    clock: ClockDep,
    response: Response,
) -> TokenOut:
    info, created = registry.upsert_token(
        uow, caller.operator_id, driver_id, uid, type=body.type, status=body.status, clock=clock
    )
    response.status_code = 201 if created else 200
    return _token_out(info)


@router.get("/{driver_id}/tokens", summary="List a driver's id tokens")
def list_tokens(
    driver_id: DriverId, caller: OperatorDep, uow: UowDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[TokenOut]:
    if registry.get_driver(uow, driver_id, operator_id=caller.operator_id) is None:
        raise NotFound(f"driver {driver_id} does not exist.", code="driver_not_found")
    page = registry.list_tokens(uow, caller.operator_id, driver_id, limit=limit, after=decode_cursor(cursor))
    return PageOut(items=[_token_out(t) for t in page.items], next_cursor=encode_cursor(page.next_cursor))


@router.get("/{driver_id}/tokens/{uid}", summary="Get an id token")
def get_token(driver_id: DriverId, uid: TokenUid, caller: OperatorDep, uow: UowDep) -> TokenOut:
    info = registry.get_token(uow, caller.operator_id, driver_id, uid)
    if info is None:
        raise NotFound(f"token {uid} of driver {driver_id} does not exist.", code="token_not_found")
    return _token_out(info)
