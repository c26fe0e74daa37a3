"""``/api/v1/charge-points``: chargers, their OCPP password (argon2-hashed), tariff and location."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from voltbill.api.deps import ClockDep, OperatorDep, UowDep
from voltbill.api.errors import PROBLEM_RESPONSES
from voltbill.api.ids import ChargePointId, Text
from voltbill.api.pagination import Cursor, Limit, PageOut, decode_cursor, encode_cursor
from voltbill.domain.errors import NotFound
from voltbill.services import registry

router = APIRouter(prefix="/api/v1/charge-points", tags=["charge points"], responses=PROBLEM_RESPONSES)


class Coordinates(BaseModel):
    """OCPI 2.2.1 mod_locations GeoLocation: decimal strings with 5 to 7 decimals."""

    model_config = ConfigDict(extra="forbid")

    latitude: str = Field(pattern=r"^-?(90|[0-8]?[0-9])\.[0-9]{5,7}$", examples=["52.37404"])
    longitude: str = Field(pattern=r"^-?(180|1[0-7][0-9]|[0-9]?[0-9])\.[0-9]{5,7}$", examples=["4.91422"])


class LocationIn(BaseModel):
    """Where the charger is. ``country``: ISO 3166-1 alpha-3; ``time_zone``: IANA (tariff restrictions use it)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, max_length=255)
    address: Text = Field(min_length=1, max_length=45)
    city: Text = Field(min_length=1, max_length=45)
    postal_code: Text | None = Field(default=None, max_length=10)
    country: Text = Field(pattern=r"^[A-Z]{3}$", examples=["NLD"])
    coordinates: Coordinates
    time_zone: Text = Field(min_length=1, max_length=64, examples=["Europe/Amsterdam"])


class LocationOut(LocationIn):
    id: str


class ChargePointIn(BaseModel):
    """``password``: the OCPP security profile 1 Basic-auth password (OCPP 2.0.1 asks for 16-40 characters);
    ``null`` registers a charger without password (accepted only if the operator allows it)."""

    model_config = ConfigDict(extra="forbid")

    password: Text | None = Field(default=None, min_length=1, max_length=64)
    tariff_id: Text | None = Field(default=None, min_length=1, max_length=36)
    location: LocationIn


class ChargePointOut(BaseModel):
    id: str
    tariff_id: str | None
    location: LocationOut
    password_set: bool
    vendor: str | None
    model: str | None
    firmware_version: str | None
    protocol: str | None
    last_seen_at: datetime | None


def _out(info: registry.ChargePointInfo) -> ChargePointOut:
    return ChargePointOut(
        id=info.id,
        tariff_id=info.tariff_id,
        location=LocationOut.model_validate(info.location),
        password_set=info.password_hash is not None,
        vendor=info.vendor,
        model=info.model,
        firmware_version=info.firmware_version,
        protocol=info.protocol,
        last_seen_at=info.last_seen_at,
    )


@router.put(
    "/{charge_point_id}", summary="Register or replace a charge point", responses={201: {"model": ChargePointOut}}
)
def put_charge_point(
    charge_point_id: ChargePointId,
    body: ChargePointIn,
    caller: OperatorDep,
    uow: UowDep,
    clock: ClockDep,
    response: Response,
) -> ChargePointOut:
    """201 when new, 200 when replaced. The password is stored as an argon2 hash and never returned."""
    info, created = registry.upsert_charge_point(
        uow,
        caller.operator_id,
        charge_point_id,
        password=body.password,
        tariff_id=body.tariff_id,
        location=body.location.model_dump(),
        clock=clock,
    )
    response.status_code = 201 if created else 200
    return _out(info)


@router.get("", summary="List charge points")
def list_charge_points(
    caller: OperatorDep, uow: UowDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[ChargePointOut]:
    page = registry.list_charge_points(uow, caller.operator_id, limit=limit, after=decode_cursor(cursor))
    return PageOut(items=[_out(i) for i in page.items], next_cursor=encode_cursor(page.next_cursor))


@router.get("/{charge_point_id}", summary="Get a charge point")
def get_charge_point(charge_point_id: ChargePointId, caller: OperatorDep, uow: UowDep) -> ChargePointOut:
    info = registry.get_charge_point(uow, charge_point_id, operator_id=caller.operator_id)
    if info is None:
        raise NotFound(f"charge point {charge_point_id} does not exist.", code="charge_point_not_found")
    return _out(info)
