"""Registry use cases: tariffs (versioned), charge points with their location, drivers and their id tokens.

Writes are PUT-style upserts scoped to one operator; reads used by the OCPP layer (``get_charge_point``,
``verify_charger_password``, ``authorize_id_token``, ``tariff_at``) look ids up across operators because
chargers name no operator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, Generic, Literal, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.registry import ChargePoint, Driver, Location, TariffVersion, Token
from voltbill.domain.clock import Clock
from voltbill.domain.countries import is_country_alpha3
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.domain.tariffs import Tariff, parse_tariff
from voltbill.services.charger_auth import verify_charger_password
from voltbill.services.credentials import hash_password

__all__ = [
    "ChargePointInfo",
    "DriverInfo",
    "Page",
    "TariffRecord",
    "TokenInfo",
    "authorize_id_token",
    "get_charge_point",
    "get_driver",
    "get_tariff",
    "get_token",
    "list_charge_points",
    "list_drivers",
    "list_tariffs",
    "list_tokens",
    "tariff_at",
    "tariff_versions",
    "upsert_charge_point",
    "upsert_driver",
    "upsert_tariff",
    "upsert_token",
    "verify_charger_password",
]

PAYMENT_METHODS = ("wallet", "card", "invoice")
TOKEN_TYPES = ("RFID", "APP_USER", "AD_HOC_USER")
TOKEN_STATUSES = ("valid", "blocked")
AuthorizationStatus = Literal["Accepted", "Blocked", "Invalid", "Unknown"]

T = TypeVar("T")
P = ParamSpec("P")
RT = TypeVar("RT")
R = TypeVar("R", ChargePoint, Driver, Token, TariffVersion)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list; ``next_cursor`` is the last id, ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class ChargePointInfo:
    """A registered charger. ``location`` is the OCPI-style location dict; ``time_zone`` an IANA name."""

    id: str
    operator_id: str
    tariff_id: str | None
    time_zone: str
    location: dict[str, Any]
    password_hash: str | None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    protocol: str | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class DriverInfo:
    id: str
    operator_id: str
    name: str
    email: str
    locale: str | None
    payment_method: str
    billing_address: dict[str, Any] | None


@dataclass(frozen=True)
class TokenInfo:
    """The answer to an id token: ``status`` as OCPP names it, plus whom to bill."""

    uid: str
    status: AuthorizationStatus
    driver_id: str | None = None
    payment_method: str | None = None
    operator_id: str | None = None
    type: str | None = None
    token_status: str | None = None


@dataclass(frozen=True)
class TariffRecord:
    """One stored tariff version: the OCPI 2.2.1 Tariff JSON in ``data``."""

    id: str
    operator_id: str
    version: int
    valid_from: datetime
    data: dict[str, Any]


def _page(rows: list[T], limit: int, key: Any) -> Page[T]:
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, str(key(rows[-1])))
    return Page(rows, None)


def _retried_on_race(func: Callable[P, RT]) -> Callable[P, RT]:
    """Run an upsert once more when it lost a race with a concurrent write of the same id (a unique-key error):
    the second run sees the winner's row and replaces it, or returns it when it is identical."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> RT:
        uow = args[0]
        assert isinstance(uow, UnitOfWork)
        for attempt in (1, 2):
            try:
                return func(*args, **kwargs)
            except IntegrityError as exc:
                uow.rollback()
                if attempt == 2:
                    raise Conflict(
                        "the record was changed concurrently; retry the request.", code="concurrent_update"
                    ) from exc
        raise AssertionError("unreachable")

    return wrapper


def _owned(row: R | None, operator_id: str, what: str, ident: str) -> R | None:
    """``row`` if the operator owns it, ``None`` if absent; another operator's row is a conflict on write."""
    if row is not None and row.operator_id != operator_id:
        raise Conflict(f"{what} {ident} is registered by another operator.", code="id_taken", field="id")
    return row


# --- tariffs -------------------------------------------------------------------------------------------------


def _latest_version(uow: UnitOfWork, tariff_id: str) -> TariffVersion | None:
    stmt = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id).order_by(TariffVersion.version.desc())
    return uow.session.scalars(stmt.limit(1)).first()


def _tariff_record(row: TariffVersion) -> TariffRecord:
    return TariffRecord(row.tariff_id, row.operator_id, row.version, row.valid_from, dict(row.data))


@_retried_on_race
def upsert_tariff(
    uow: UnitOfWork, operator_id: str, tariff_id: str, body: Mapping[str, Any], *, clock: Clock
) -> tuple[TariffRecord, bool]:
    """Store an OCPI 2.2.1 Tariff as a new version valid from now; returns ``(record, created)``.

    A body identical to the newest version (ignoring ``last_updated``) stores nothing and returns that version.
    """
    if not isinstance(body, Mapping):
        raise InvalidInput("the tariff must be a JSON object.", field="$")
    data = {k: v for k, v in body.items() if k != "last_updated"}
    if data.setdefault("id", tariff_id) != tariff_id:
        raise InvalidInput(f"id {data['id']!r} differs from the tariff id {tariff_id!r} in the URL.", field="$.id")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    latest = _owned(_latest_version(uow, tariff_id), operator_id, "tariff", tariff_id)
    if latest is not None and latest.body_sha256 == digest:
        return _tariff_record(latest), False
    now = clock.now()
    tariff = parse_tariff({**data, "last_updated": now.isoformat().replace("+00:00", "Z")})
    row = TariffVersion(
        tariff_id=tariff_id,
        operator_id=operator_id,
        version=(latest.version + 1) if latest else 1,
        valid_from=now,
        currency=tariff.currency,
        body_sha256=digest,
        data=tariff.to_ocpi(),
    )
    uow.session.add(row)
    uow.commit()
    return _tariff_record(row), latest is None


def get_tariff(uow: UnitOfWork, operator_id: str, tariff_id: str) -> TariffRecord | None:
    """The newest version of the operator's tariff, or ``None``."""
    row = _latest_version(uow, tariff_id)
    return _tariff_record(row) if row is not None and row.operator_id == operator_id else None


def tariff_versions(uow: UnitOfWork, operator_id: str, tariff_id: str) -> list[TariffRecord]:
    """Every stored version of the operator's tariff, oldest first."""
    stmt = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id, TariffVersion.operator_id == operator_id)
    return [_tariff_record(r) for r in uow.session.scalars(stmt.order_by(TariffVersion.version))]


def list_tariffs(uow: UnitOfWork, operator_id: str, *, limit: int = 50, after: str | None = None) -> Page[TariffRecord]:
    """The newest version of each of the operator's tariffs, ordered by id."""
    stmt = select(TariffVersion).where(TariffVersion.operator_id == operator_id)
    if after is not None:
        stmt = stmt.where(TariffVersion.tariff_id > after)
    stmt = stmt.order_by(TariffVersion.tariff_id, TariffVersion.version.desc())
    newest: list[TariffVersion] = []
    for row in uow.session.scalars(stmt):
        if newest and newest[-1].tariff_id == row.tariff_id:
            continue
        newest.append(row)
        if len(newest) > limit:
            break
    return _page([_tariff_record(r) for r in newest], limit, lambda r: r.id)


def tariff_at(uow: UnitOfWork, tariff_id: str, at: datetime) -> Tariff:
    """The domain ``Tariff`` of the version valid at ``at`` (a session's start).

    A session that started before the first version was stored (a charger clock running ahead of the upload)
    is priced with the first version.
    """
    stmt = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id)
    row = uow.session.scalars(
        stmt.where(TariffVersion.valid_from <= at).order_by(
            TariffVersion.valid_from.desc(), TariffVersion.version.desc()
        )
    ).first()
    if row is None:
        row = uow.session.scalars(stmt.order_by(TariffVersion.version).limit(1)).first()
    if row is None:
        raise NotFound(
            f"tariff {tariff_id} is not registered; PUT it first.", code="tariff_not_found", field="tariff_id"
        )
    return parse_tariff(row.data)


# --- charge points -------------------------------------------------------------------------------------------


def _valid_time_zone(name: str, field: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{name!r} is not an IANA time zone such as Europe/Amsterdam.", field=field) from exc
    return name


def _location_dict(loc: Location) -> dict[str, Any]:
    return {
        "id": loc.id,
        "name": loc.name,
        "address": loc.address,
        "city": loc.city,
        "postal_code": loc.postal_code,
        "country": loc.country,
        "coordinates": {"latitude": loc.latitude, "longitude": loc.longitude},
        "time_zone": loc.time_zone,
    }


def _charge_point_info(cp: ChargePoint, loc: Location) -> ChargePointInfo:
    return ChargePointInfo(
        id=cp.id,
        operator_id=cp.operator_id,
        tariff_id=cp.tariff_id,
        time_zone=loc.time_zone,
        location=_location_dict(loc),
        password_hash=cp.password_hash,
        vendor=cp.vendor,
        model=cp.model,
        firmware_version=cp.firmware_version,
        protocol=cp.protocol,
        last_seen_at=cp.last_seen_at,
    )


def _upsert_location(uow: UnitOfWork, operator_id: str, location: Mapping[str, Any], now: datetime) -> Location:
    country = str(location["country"])
    if not is_country_alpha3(country):
        raise InvalidInput(
            f"{country!r} is not an ISO 3166-1 alpha-3 country code such as NLD.", field="$.location.country"
        )
    time_zone = _valid_time_zone(str(location["time_zone"]), "$.location.time_zone")
    coords = location["coordinates"]
    fields = {
        "name": location.get("name"),
        "address": location["address"],
        "city": location["city"],
        "postal_code": location.get("postal_code"),
        "country": country,
        "latitude": str(coords["latitude"]),
        "longitude": str(coords["longitude"]),
        "time_zone": time_zone,
    }
    # Chargers at the same named address share one location (OCPI: a Location holds many EVSEs).
    identity = json.dumps(
        [operator_id, fields["name"], fields["address"], fields["city"], fields["postal_code"], country]
    )
    loc_id = "LOC" + hashlib.sha256(identity.encode()).hexdigest()[:20].upper()
    loc = uow.session.get(Location, loc_id)
    if loc is None:
        loc = Location(id=loc_id, operator_id=operator_id, updated_at=now, **fields)
        uow.session.add(loc)
        uow.session.flush()  # before the charge point that references it
    else:
        for key, value in fields.items():
            setattr(loc, key, value)
        loc.updated_at = now
    return loc


@_retried_on_race
def upsert_charge_point(
    uow: UnitOfWork,
    operator_id: str,
    charge_point_id: str,
    *,
    password: str | None,
    tariff_id: str | None,
    location: Mapping[str, Any],
    clock: Clock,
) -> tuple[ChargePointInfo, bool]:
    """Register or replace a charger and its location; returns ``(info, created)``.

    The password is stored as an argon2 hash, computed before the first query so the ~50 ms of hashing does not
    hold a transaction (on SQLite, the write lock) open.
    """
    password_hash = hash_password(password) if password is not None else None
    cp = _owned(uow.session.get(ChargePoint, charge_point_id), operator_id, "charge point", charge_point_id)
    if tariff_id is not None and get_tariff(uow, operator_id, tariff_id) is None:
        raise InvalidInput(
            f"tariff {tariff_id} is not registered; PUT it first.", code="tariff_not_found", field="$.tariff_id"
        )
    now = clock.now()
    loc = _upsert_location(uow, operator_id, location, now)
    created = cp is None
    if cp is None:
        cp = ChargePoint(id=charge_point_id, operator_id=operator_id, created_at=now)
        uow.session.add(cp)
    cp.password_hash = password_hash
    cp.tariff_id, cp.location_id, cp.updated_at = tariff_id, loc.id, now
    uow.session.flush()
    uow.commit()
    return _charge_point_info(cp, loc), created


def get_charge_point(
    uow: UnitOfWork, charge_point_id: str, *, operator_id: str | None = None
) -> ChargePointInfo | None:
    """The charger with its location, or ``None``; with ``operator_id`` only if that operator owns it."""
    cp = uow.session.get(ChargePoint, charge_point_id)
    if cp is None or (operator_id is not None and cp.operator_id != operator_id):
        return None
    loc = uow.session.get(Location, cp.location_id)
    assert loc is not None  # foreign key
    return _charge_point_info(cp, loc)


def list_charge_points(
    uow: UnitOfWork, operator_id: str, *, limit: int = 50, after: str | None = None
) -> Page[ChargePointInfo]:
    stmt: Select[tuple[ChargePoint, Location]] = (
        select(ChargePoint, Location).join(Location, Location.id == ChargePoint.location_id)
    ).where(ChargePoint.operator_id == operator_id)
    if after is not None:
        stmt = stmt.where(ChargePoint.id > after)
    rows = uow.session.execute(stmt.order_by(ChargePoint.id).limit(limit + 1)).all()
    return _page([_charge_point_info(cp, loc) for cp, loc in rows], limit, lambda c: c.id)


# --- drivers and tokens --------------------------------------------------------------------------------------


def _driver_info(d: Driver) -> DriverInfo:
    return DriverInfo(d.id, d.operator_id, d.name, d.email, d.locale, d.payment_method, d.billing_address)


@_retried_on_race
def upsert_driver(
    uow: UnitOfWork,
    operator_id: str,
    driver_id: str,
    *,
    name: str,
    email: str,
    payment_method: str,
    billing_address: Mapping[str, Any] | None = None,
    locale: str | None = None,
    clock: Clock,
) -> tuple[DriverInfo, bool]:
    """Register or replace a driver; returns ``(info, created)``."""
    if payment_method not in PAYMENT_METHODS:
        raise InvalidInput(f"payment_method must be one of {', '.join(PAYMENT_METHODS)}.", field="$.payment_method")
    driver = _owned(uow.session.get(Driver, driver_id), operator_id, "driver", driver_id)
    now = clock.now()
    created = driver is None
    if driver is None:
        driver = Driver(id=driver_id, operator_id=operator_id, created_at=now)
        uow.session.add(driver)
    driver.name, driver.email, driver.payment_method = name, email, payment_method
    driver.billing_address = dict(billing_address) if billing_address is not None else None
    driver.locale, driver.updated_at = locale, now
    uow.commit()
    return _driver_info(driver), created


def get_driver(uow: UnitOfWork, driver_id: str, *, operator_id: str | None = None) -> DriverInfo | None:
    """The driver, or ``None``; with ``operator_id`` only if that operator owns it."""
    d = uow.session.get(Driver, driver_id)
    if d is None or (operator_id is not None and d.operator_id != operator_id):
        return None
    return _driver_info(d)


def list_drivers(uow: UnitOfWork, operator_id: str, *, limit: int = 50, after: str | None = None) -> Page[DriverInfo]:
    stmt = select(Driver).where(Driver.operator_id == operator_id)
    if after is not None:
        stmt = stmt.where(Driver.id > after)
    rows = uow.session.scalars(stmt.order_by(Driver.id).limit(limit + 1)).all()
    return _page([_driver_info(d) for d in rows], limit, lambda d: d.id)


def _token_info(t: Token, status: AuthorizationStatus, payment_method: str | None) -> TokenInfo:
    return TokenInfo(t.uid, status, t.driver_id, payment_method, t.operator_id, t.type, t.status)


@_retried_on_race
def upsert_token(
    uow: UnitOfWork,
    operator_id: str,
    driver_id: str,
    uid: str,
    *,
    type: str,
    status: str = "valid",
    clock: Clock,
) -> tuple[TokenInfo, bool]:
    """Register or replace an id token of a driver; returns ``(info, created)``."""
    if type not in TOKEN_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(TOKEN_TYPES)}.", field="$.type")
    if status not in TOKEN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(TOKEN_STATUSES)}.", field="$.status")
    driver = get_driver(uow, driver_id, operator_id=operator_id)
    if driver is None:
        raise NotFound(f"driver {driver_id} is not registered.", code="driver_not_found")
    token = _owned(uow.session.get(Token, uid), operator_id, "token", uid)
    created = token is None
    if token is None:
        token = Token(uid=uid, operator_id=operator_id)
        uow.session.add(token)
    token.driver_id, token.type, token.status, token.updated_at = driver_id, type, status, clock.now()
    uow.commit()
    return _token_info(token, "Accepted" if status == "valid" else "Blocked", driver.payment_method), created


def get_token(uow: UnitOfWork, operator_id: str, driver_id: str, uid: str) -> TokenInfo | None:
    token = uow.session.get(Token, uid)
    if token is None or token.operator_id != operator_id or token.driver_id != driver_id:
        return None
    return authorize_id_token(uow, uid)


def list_tokens(
    uow: UnitOfWork, operator_id: str, driver_id: str, *, limit: int = 50, after: str | None = None
) -> Page[TokenInfo]:
    stmt = select(Token).where(Token.operator_id == operator_id, Token.driver_id == driver_id)
    if after is not None:
        stmt = stmt.where(Token.uid > after)
    rows = uow.session.scalars(stmt.order_by(Token.uid).limit(limit + 1)).all()
    driver = get_driver(uow, driver_id, operator_id=operator_id)
    method = driver.payment_method if driver else None
    return _page(
        [_token_info(t, "Accepted" if t.status == "valid" else "Blocked", method) for t in rows], limit, lambda t: t.uid
    )


def authorize_id_token(uow: UnitOfWork, uid: str, *, charge_point_id: str | None = None) -> TokenInfo:
    """How to answer a charger's Authorize for ``uid``.

    ``Unknown``: never registered; ``Blocked``: the operator blocked it; ``Invalid``: presented at a charger of
    another operator. Payment checks (wallet balance, card) run after this, in the start checks.
    """
    token = uow.session.get(Token, uid)
    if token is None:
        return TokenInfo(uid, "Unknown")
    driver = uow.session.get(Driver, token.driver_id)
    method = driver.payment_method if driver else None
    if charge_point_id is not None:
        cp = uow.session.get(ChargePoint, charge_point_id)
        if cp is None or cp.operator_id != token.operator_id:
            return _token_info(token, "Invalid", method)
    return _token_info(token, "Accepted" if token.status == "valid" else "Blocked", method)
