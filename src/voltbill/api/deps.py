"""Typed dependencies for routes: ``UowDep``, ``OperatorDep`` (Bearer API key), ``BusDep``, ``ClockDep``, ...

``OperatorDep`` authenticates ``Authorization: Bearer <api key>`` and authorises by method: ``staff`` keys may
only read (GET/HEAD), ``admin`` keys may do everything. Every query a route makes is scoped by
``caller.operator_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.api.errors import Forbidden, Unauthorized
from voltbill.config import Settings
from voltbill.domain.clock import Clock
from voltbill.services.access import Caller, authenticate_api_key
from voltbill.services.events import EventBus

_bearer = HTTPBearer(auto_error=False, description="An operator API key: `Authorization: Bearer <key>`.")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
BusDep = Annotated[EventBus, Depends(get_bus)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def get_uow(db: DbDep) -> Iterator[UnitOfWork]:
    """One unit of work per request; services commit, anything uncommitted rolls back at the end."""
    with db.uow() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def get_operator(
    request: Request, db: DbDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The operator behind the Bearer API key; 401 without a valid key, 403 for a read-only key on a write."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("send an operator API key as 'Authorization: Bearer <key>'.", code="missing_api_key")
    with db.uow() as uow:
        caller = authenticate_api_key(uow, credentials.credentials)
    if caller is None:
        raise Unauthorized("the API key is unknown or revoked.", code="invalid_api_key")
    if request.method not in READ_METHODS and not caller.can_write:
        raise Forbidden("this API key is read-only (staff); use an admin key to change data.", code="read_only_key")
    request.state.caller = caller
    return caller


OperatorDep = Annotated[Caller, Depends(get_operator)]
