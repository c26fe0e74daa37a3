"""What every web page shares: who is looking (roles from ``voltbill.api.auth``), the navigation and rendering.

Operator pages need ``operator_admin`` or ``operator_staff`` (staff read only); driver pages need ``driver`` and
only ever show that driver's own records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from voltbill.adapters.store.db import Database
from voltbill.api.auth import csrf_token_for, current_user
from voltbill.api.dashboard.templating import templates
from voltbill.api.deps import DbDep
from voltbill.api.errors import Forbidden
from voltbill.services import dashboard
from voltbill.services.access import Caller

OPERATOR_ROLES = ("operator_admin", "operator_staff")
ROLE_LABELS = {"operator_admin": "admin", "operator_staff": "staff", "driver": "driver"}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    route: str


OPERATOR_NAV = (
    NavItem("overview", "Overview", "dashboard_overview"),
    NavItem("stations", "Stations", "dashboard_stations"),
    NavItem("sessions", "Sessions", "dashboard_sessions"),
    NavItem("cdrs", "CDRs", "dashboard_cdrs"),
    NavItem("invoices", "Invoices", "dashboard_invoices"),
    NavItem("drivers", "Drivers", "dashboard_drivers"),
    NavItem("tariffs", "Tariffs", "dashboard_tariffs"),
    NavItem("anomalies", "Anomalies", "dashboard_anomalies"),
    NavItem("analytics", "Analytics", "dashboard_analytics"),
)
DRIVER_NAV = (
    NavItem("my-sessions", "My sessions", "driver_sessions"),
    NavItem("my-invoices", "My invoices", "driver_invoices"),
)


def _remember_operator(request: Request, db: Database, caller: Caller) -> None:
    # Its own short transaction, before the route's unit of work starts (SQLite allows one writer at a time and
    # every voltbill transaction takes the write lock, so units of work must never nest).
    with db.uow() as uow:
        request.state.operator_name = dashboard.operator_name(uow, caller.operator_id)


def operator_user(request: Request, db: DbDep, caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The signed-in operator user; a driver gets 403."""
    if caller.role not in OPERATOR_ROLES:
        raise Forbidden("this page is for the operator's staff.", code="operator_only")
    _remember_operator(request, db, caller)
    return caller


def driver_user(request: Request, db: DbDep, caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The signed-in driver; operator users get 403 (they see drivers' data on the operator pages)."""
    if caller.role != "driver" or caller.driver_id is None:
        raise Forbidden("this page is for drivers.", code="driver_only")
    _remember_operator(request, db, caller)
    return caller


def operator_writer(caller: Annotated[Caller, Depends(operator_user)]) -> Caller:
    """An operator admin (staff may look but not change)."""
    if not caller.can_write:
        raise Forbidden("staff accounts are read only; ask an admin to change this.", code="read_only_user")
    return caller


OperatorUser = Annotated[Caller, Depends(operator_user)]
OperatorWriter = Annotated[Caller, Depends(operator_writer)]
DriverUser = Annotated[Caller, Depends(driver_user)]


@dataclass(frozen=True)
class UserView:
    display_name: str
    role_label: str


def render(
    request: Request, caller: Caller, template: str, active: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` inside the layout with the navigation for ``caller``'s role."""
    nav = DRIVER_NAV if caller.role == "driver" else OPERATOR_NAV
    home = "driver_sessions" if caller.role == "driver" else "dashboard_overview"
    base = {
        "request": request,
        "user": UserView(caller.subject, ROLE_LABELS.get(caller.role, caller.role)),
        "nav": [{"key": n.key, "label": n.label, "url": request.url_for(n.route)} for n in nav],
        "active": active,
        "home_url": request.url_for(home),
        "logout_url": request.url_for("logout"),
        "csrf_token": csrf_token_for(request),
        "can_write": caller.can_write,
        "charts": False,
        "operator_name": getattr(request.state, "operator_name", None),
    }
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)
