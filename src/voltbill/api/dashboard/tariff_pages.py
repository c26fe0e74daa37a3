"""Tariff pages: list, create and edit OCPI 2.2.1 tariffs as JSON.

A save goes through ``registry.upsert_tariff``, the same use case as ``PUT /api/v1/tariffs/{id}``, so the web
form and the API store identical versions. On invalid input every problem is listed with its JSON path.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from voltbill.api.auth import CsrfDep
from voltbill.api.dashboard.web import OperatorUser, OperatorWriter, render
from voltbill.api.deps import ClockDep, UowDep
from voltbill.domain.errors import InvalidInput, NotFound
from voltbill.domain.pricing.ocpi_json import Reader
from voltbill.domain.tariffs import read_tariff, tariff_warnings
from voltbill.services import dashboard, registry

router = APIRouter(include_in_schema=False)

# OCPI 2.2.1 mod_tariffs: Tariff.id is CiString(36); the same characters the REST path accepts.
_TARIFF_ID = re.compile(r"^[A-Za-z0-9._:*+@-]{1,36}$")
TEMPLATE_BODY = {
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_text": [{"language": "en", "text": "0.35/kWh excl. VAT"}],
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.35", "vat": "19", "step_size": 1}]}],
}


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _errors(exc: InvalidInput, data: Any) -> list[dict[str, str | None]]:
    """Every problem of ``data`` with its JSON path (the service stops at the first; the page lists all)."""
    reader = Reader()
    if isinstance(data, dict):
        read_tariff(data, reader)
    issues: list[dict[str, str | None]] = [{"field": i.path, "message": i.message} for i in reader.errors]
    return issues or [{"field": exc.field, "message": exc.message}]


@router.get("/dashboard/tariffs", response_class=HTMLResponse, name="dashboard_tariffs")
def tariffs_page(
    request: Request, caller: OperatorUser, uow: UowDep, cursor: str | None = Query(None, max_length=200)
) -> HTMLResponse:
    page = registry.list_tariffs(uow, caller.operator_id, limit=100, after=cursor)
    next_url = str(request.url.include_query_params(cursor=page.next_cursor)) if page.next_cursor else None
    return render(
        request,
        caller,
        "dashboard/tariffs.html",
        "tariffs",
        title="Tariffs",
        tariffs=page.items,
        tz=dashboard.operator_time_zone(uow, caller.operator_id),
        next_url=next_url,
    )


@router.get("/dashboard/tariffs/new", response_class=HTMLResponse, name="dashboard_tariff_new")
def new_tariff_page(request: Request, caller: OperatorWriter) -> HTMLResponse:
    return render(
        request,
        caller,
        "dashboard/tariff_edit.html",
        "tariffs",
        title="New tariff",
        tariff_id=None,
        body=_pretty(TEMPLATE_BODY),
        action=request.url_for("dashboard_tariff_create"),
    )


@router.post("/dashboard/tariffs/new", response_class=HTMLResponse, name="dashboard_tariff_create")
def create_tariff(
    request: Request,
    caller: OperatorWriter,
    uow: UowDep,
    clock: ClockDep,
    _csrf: CsrfDep,
    tariff_id: str = Form(""),
    tariff_json: str = Form(""),
) -> Response:
    if not _TARIFF_ID.match(tariff_id):
        errors = [{"field": "tariff_id", "message": "use 1-36 letters, digits or . _ : * + @ -"}]
        return _edit_again(request, caller, None, tariff_json, errors, new_id=tariff_id)
    if registry.get_tariff(uow, caller.operator_id, tariff_id) is not None:
        errors = [{"field": "tariff_id", "message": f"tariff {tariff_id} exists already; edit it instead"}]
        return _edit_again(request, caller, None, tariff_json, errors, new_id=tariff_id)
    return _save(request, caller, uow, clock, tariff_id, tariff_json, new=True)


@router.get("/dashboard/tariffs/{tariff_id}", response_class=HTMLResponse, name="dashboard_tariff")
def tariff_page(request: Request, tariff_id: str, caller: OperatorUser, uow: UowDep) -> HTMLResponse:
    record = registry.get_tariff(uow, caller.operator_id, tariff_id)
    if record is None:
        raise NotFound(f"tariff {tariff_id} does not exist.", code="tariff_not_found")
    saved = request.query_params.get("saved") == "1"
    return render(
        request,
        caller,
        "dashboard/tariff_edit.html",
        "tariffs",
        title=f"Tariff {tariff_id}",
        tariff_id=tariff_id,
        version=record.version,
        valid_from=record.valid_from,
        tz=dashboard.operator_time_zone(uow, caller.operator_id),
        body=_pretty(record.data),
        flash=f"Saved as version {record.version}." if saved else None,
        warnings=tariff_warnings(record.data) if saved else [],
        action=request.url_for("dashboard_tariff_save", tariff_id=tariff_id),
    )


@router.post("/dashboard/tariffs/{tariff_id}", response_class=HTMLResponse, name="dashboard_tariff_save")
def save_tariff(
    request: Request,
    tariff_id: str,
    caller: OperatorWriter,
    uow: UowDep,
    clock: ClockDep,
    _csrf: CsrfDep,
    tariff_json: str = Form(""),
) -> Response:
    return _save(request, caller, uow, clock, tariff_id, tariff_json, new=False)


def _save(request: Request, caller: Any, uow: Any, clock: Any, tariff_id: str, text: str, *, new: bool) -> Response:
    shown_id = None if new else tariff_id
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line}, column {getattr(exc, 'colno', '?')})" if line else ""
        errors = [{"field": "$", "message": f"not valid JSON{where}: {getattr(exc, 'msg', exc)}"}]
        return _edit_again(request, caller, shown_id, text, errors, new_id=tariff_id)
    try:
        registry.upsert_tariff(uow, caller.operator_id, tariff_id, data, clock=clock)
    except InvalidInput as exc:
        return _edit_again(request, caller, shown_id, text, _errors(exc, data), new_id=tariff_id)
    target = request.url_for("dashboard_tariff", tariff_id=tariff_id).include_query_params(saved="1")
    return RedirectResponse(str(target), status_code=303)


def _edit_again(
    request: Request, caller: Any, tariff_id: str | None, body: str, errors: list[Any], *, new_id: str
) -> HTMLResponse:
    action = (
        request.url_for("dashboard_tariff_save", tariff_id=tariff_id)
        if tariff_id
        else request.url_for("dashboard_tariff_create")
    )
    return render(
        request,
        caller,
        "dashboard/tariff_edit.html",
        "tariffs",
        status_code=422,
        title=f"Tariff {tariff_id}" if tariff_id else "New tariff",
        tariff_id=tariff_id,
        new_id=new_id,
        body=body,
        errors=errors,
        action=action,
    )
