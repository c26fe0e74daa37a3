"""Operators (tenants), their API keys and who is calling: the access side of the registry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.registry import ApiKey, InstanceSecret, Operator
from voltbill.config import Settings
from voltbill.domain.clock import Clock
from voltbill.domain.errors import InvalidInput, NotFound
from voltbill.services.credentials import hash_api_key, new_api_key, same_secret

DEFAULT_OPERATOR_ID = "default"
API_KEY_ROLES = ("admin", "staff")


@dataclass(frozen=True)
class Caller:
    """Who makes a request: ``operator_id`` scopes every query; ``role`` is ``admin`` (read/write) or ``staff``
    (read-only) for API keys, or a web role (``operator_admin``, ``operator_staff``, ``driver``).
    ``driver_id`` is set for drivers; ``subject`` names the key or user for logs."""

    operator_id: str
    role: str
    subject: str
    driver_id: str | None = None

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "operator_admin")


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    operator_id: str
    role: str
    name: str
    created_at: datetime


def ensure_operator(
    uow: UnitOfWork,
    operator_id: str,
    *,
    clock: Clock,
    name: str | None = None,
    time_zone: str = "UTC",
    allow_unauthenticated_chargers: bool | None = None,
) -> None:
    """Create the operator if missing (safe to rerun); update the charger-auth policy when it is given."""
    row = uow.session.get(Operator, operator_id)
    if row is None:
        row = Operator(
            id=operator_id,
            name=name or operator_id,
            time_zone=time_zone,
            allow_unauthenticated_chargers=bool(allow_unauthenticated_chargers),
            created_at=clock.now(),
        )
        uow.session.add(row)
    elif allow_unauthenticated_chargers is not None:
        row.allow_unauthenticated_chargers = allow_unauthenticated_chargers
    uow.commit()


def _key_id(key_hash: str) -> str:
    return "key_" + key_hash[:16]


def ensure_api_key(
    uow: UnitOfWork, operator_id: str, key: str, *, clock: Clock, role: str = "admin", name: str = "VOLTBILL_API_KEY"
) -> ApiKeyInfo:
    """Make ``key`` a valid API key of ``operator_id`` with ``role`` (idempotent; only its hash is stored)."""
    if role not in API_KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(API_KEY_ROLES)}.", field="role")
    if len(key) < 16:
        raise InvalidInput(
            "an API key must be at least 16 characters long; use a random one.", field="VOLTBILL_API_KEY"
        )
    key_hash = hash_api_key(key)
    row = uow.session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()
    if row is None:
        row = ApiKey(
            id=_key_id(key_hash),
            operator_id=operator_id,
            key_hash=key_hash,
            role=role,
            name=name,
            created_at=clock.now(),
        )
        uow.session.add(row)
    else:
        row.operator_id, row.role, row.revoked_at = operator_id, role, None
    uow.commit()
    return ApiKeyInfo(row.id, row.operator_id, row.role, row.name, row.created_at)


def create_api_key(
    uow: UnitOfWork, operator_id: str, *, clock: Clock, role: str = "admin", name: str = "api key"
) -> tuple[ApiKeyInfo, str]:
    """A new random API key for ``operator_id``; the plain key is returned once and never stored."""
    if uow.session.get(Operator, operator_id) is None:
        raise NotFound(f"operator {operator_id} does not exist.", code="operator_not_found", field="operator_id")
    key = new_api_key()
    return ensure_api_key(uow, operator_id, key, clock=clock, role=role, name=name), key


def authenticate_api_key(uow: UnitOfWork, key: str) -> Caller | None:
    """The caller an API key stands for, or ``None`` for an unknown or revoked key."""
    key_hash = hash_api_key(key)
    row = uow.session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()
    if row is None or row.revoked_at is not None or not same_secret(row.key_hash, key_hash):
        return None
    return Caller(operator_id=row.operator_id, role=row.role, subject=row.id)


def bootstrap(uow: UnitOfWork, settings: Settings, *, clock: Clock) -> None:
    """First-start set-up, safe on every start: the default operator, and ``VOLTBILL_API_KEY`` as its admin key."""
    ensure_operator(
        uow,
        DEFAULT_OPERATOR_ID,
        clock=clock,
        name="Default operator",
        allow_unauthenticated_chargers=settings.allow_unauthenticated_chargers,
    )
    if settings.api_key:
        ensure_api_key(uow, DEFAULT_OPERATOR_ID, settings.api_key, clock=clock, role="admin")


def instance_secret(uow: UnitOfWork, name: str) -> str:
    """A random secret generated once per installation and kept in the database (e.g. the cookie signing key),
    so every server process of one installation signs alike and restarts keep people signed in."""
    row = uow.session.get(InstanceSecret, name)
    if row is not None:
        return row.value
    uow.session.add(InstanceSecret(name=name, value=secrets.token_urlsafe(48)))
    try:
        uow.commit()
    except IntegrityError:  # another process created it first
        uow.rollback()
    row = uow.session.get(InstanceSecret, name)
    assert row is not None
    return row.value
