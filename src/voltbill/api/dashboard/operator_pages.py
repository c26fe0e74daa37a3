"""Operator pages: overview, stations, sessions, CDRs and drivers. Each page reads through services with a fixed
number of queries per page (lists are paginated with the services' cursors)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from voltbill.api.dashboard.web import OperatorUser, render
from voltbill.api.deps import ClockDep, UowDep
from voltbill.domain import json_text
from voltbill.domain.errors import NotFound
from voltbill.services import charging, dashboard, registry

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
STATUS_TONES = {"Available": "ok", "Charging": "ok", "Occupied": "warn", "Preparing": "warn", "Finishing": "warn",
                "SuspendedEV": "warn", "SuspendedEVSE": "warn", "Reserved": "warn", "Faulted": "bad",
                "Unavailable": "bad"}  # fmt: skip


def next_url(request: Request, cursor: str | None) -> str | None:
    return str(request.url.include_query_params(cursor=cursor)) if cursor else None


@router.get("/", name="dashboard_root")
def root() -> RedirectResponse:
    """``/`` is the dashboard; the login page answers first when nobody is signed in."""
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard", response_class=HTMLResponse, name="dashboard_overview")
def overview_page(request: Request, caller: OperatorUser, uow: UowDep, clock: ClockDep) -> HTMLResponse:
    o = dashboard.overview(uow, caller.operator_id, clock.now())
    currencies = sorted({c for _, t in o.days for c in t.revenue}) or ["EUR"]
    currency = currencies[0]
    days = [d.isoformat() for d, _ in o.days]
    revenue = [format(t.revenue.get(currency, Decimal(0)).quantize(Decimal("0.01")), "f") for _, t in o.days]
    kwh = [format(t.kwh.quantize(Decimal("0.1")), "f") for _, t in o.days]
    sessions = [t.sessions for _, t in o.days]
    return render(
        request,
        caller,
        "dashboard/overview.html",
        "overview",
        title="Overview",
        charts=True,
        o=o,
        currency=currency,
        revenue_spec={"x": days, "series": [{"name": f"Revenue ({currency})", "data": revenue}], "area": True},
        revenue_rows=list(zip(days, revenue, strict=True)),
        energy_spec={"x": days, "series": [{"name": "Energy (kWh)", "data": kwh}], "unit": "kWh"},
        energy_rows=list(zip(days, kwh, sessions, strict=True)),
        sessions_spec={"x": days, "series": [{"name": "Sessions", "data": sessions}]},
    )


@router.get("/dashboard/stations", response_class=HTMLResponse, name="dashboard_stations")
def stations_page(request: Request, caller: OperatorUser, uow: UowDep, clock: ClockDep) -> HTMLResponse:
    stations = dashboard.station_board(uow, caller.operator_id, clock.now())
    return render(
        request,
        caller,
        "dashboard/stations.html",
        "stations",
        title="Stations",
        stations=stations,
        status_tone=lambda status: STATUS_TONES.get(status, "muted"),
    )


@router.get("/dashboard/sessions", response_class=HTMLResponse, name="dashboard_sessions")
def sessions_page(
    request: Request,
    caller: OperatorUser,
    uow: UowDep,
    clock: ClockDep,
    status: str | None = Query(None),
    charge_point_id: str | None = Query(None, max_length=48),
    driver_id: str | None = Query(None, max_length=64),
    cursor: str | None = Query(None, max_length=200),
) -> HTMLResponse:
    filters = {"status": status or None, "charge_point_id": charge_point_id or None, "driver_id": driver_id or None}
    items, next_cursor = charging.list_sessions(
        uow, operator_id=caller.operator_id, limit=PAGE_SIZE, cursor=cursor, **filters
    )
    extras = dashboard.session_extras(uow, items)
    rows = []
    for s in items:
        currency, cost = extras.cdr_totals.get(s["cdr_id"] or "", (None, None))
        kwh = s["kwh"]
        if s["status"] == "active":
            currency, cost, kwh = live_figures(charging.live_cost(uow, s["id"], operator_id=caller.operator_id), kwh)
        rows.append(
            {
                **s,
                "kwh": kwh,
                "time_zone": extras.time_zones.get(s["charge_point_id"], "UTC"),
                "driver_name": extras.driver_names.get(s["driver_id"] or ""),
                "currency": currency,
                "cost": cost,
            }
        )
    return render(
        request,
        caller,
        "dashboard/sessions.html",
        "sessions",
        title="Sessions",
        sessions=rows,
        filters=filters,
        now=clock.now(),
        next_url=next_url(request, next_cursor),
    )


def live_figures(live: dict[str, Any] | None, kwh: str | None) -> tuple[str | None, Decimal | None, str | None]:
    """``(currency, cost incl. VAT (excl. when VAT is unknown), kWh)`` of an active session so far."""
    if live is None or not live.get("total_cost"):
        return None, None, kwh
    total = live["total_cost"]
    cost = total["incl_vat"] if total.get("incl_vat") is not None else total["excl_vat"]
    return live["currency"], Decimal(str(cost)), live.get("total_energy", kwh)


@router.get("/dashboard/cdrs", response_class=HTMLResponse, name="dashboard_cdrs")
def cdrs_page(
    request: Request, caller: OperatorUser, uow: UowDep, cursor: str | None = Query(None, max_length=200)
) -> HTMLResponse:
    items, next_cursor = charging.list_cdrs(uow, operator_id=caller.operator_id, limit=PAGE_SIZE, cursor=cursor)
    cdrs = [_cdr_row(c) for c in items]
    return render(
        request,
        caller,
        "dashboard/cdrs.html",
        "cdrs",
        title="CDRs",
        cdrs=cdrs,
        tz=dashboard.operator_time_zone(uow, caller.operator_id),
        next_url=next_url(request, next_cursor),
    )


def _cdr_row(c: dict[str, Any]) -> dict[str, Any]:
    total = c.get("total_cost") or {}
    location = c.get("cdr_location") or {}
    return {
        "id": c["id"],
        "end_date_time": c["end_date_time"],
        "charge_point_id": str(location.get("evse_id", "")).rsplit("-", 1)[0],
        "driver_id": (c.get("cdr_token") or {}).get("contract_id"),
        "total_energy": c.get("total_energy"),
        "currency": c.get("currency"),
        "total_excl_vat": total.get("excl_vat"),
        "total_incl_vat": total.get("incl_vat"),
    }


@router.get("/dashboard/cdrs/{cdr_id}", response_class=HTMLResponse, name="dashboard_cdr")
def cdr_page(request: Request, cdr_id: str, caller: OperatorUser, uow: UowDep) -> HTMLResponse:
    cdr = charging.get_cdr(uow, cdr_id, operator_id=caller.operator_id)
    if cdr is None:
        raise NotFound(f"CDR {cdr_id} does not exist.", code="cdr_not_found")
    dimensions = [
        ("Fixed", None, "", cdr.get("total_fixed_cost")),
        ("Energy", cdr.get("total_energy"), "kWh", cdr.get("total_energy_cost")),
        ("Charging time", cdr.get("total_time"), "h", cdr.get("total_time_cost")),
        ("Parking (idle) time", cdr.get("total_parking_time"), "h", cdr.get("total_parking_cost")),
    ]
    return render(
        request,
        caller,
        "dashboard/cdr.html",
        "cdrs",
        title=f"CDR {cdr_id}",
        cdr={**cdr, "total_cost": cdr.get("total_cost") or {}},
        dimensions=dimensions,
        tz=(cdr.get("cdr_location") or {}).get("time_zone") or dashboard.operator_time_zone(uow, caller.operator_id),
        cdr_json=json_text.dumps(cdr, indent=2, sort_keys=True),
    )


@router.get("/dashboard/drivers", response_class=HTMLResponse, name="dashboard_drivers")
def drivers_page(
    request: Request, caller: OperatorUser, uow: UowDep, cursor: str | None = Query(None, max_length=200)
) -> HTMLResponse:
    page = registry.list_drivers(uow, caller.operator_id, limit=PAGE_SIZE, after=cursor)
    usage = dashboard.driver_usage(uow, [d.id for d in page.items])
    balances = dashboard.wallet_balances(uow, [d.id for d in page.items if d.payment_method == "wallet"])
    drivers = []
    for d in page.items:
        u = usage.get(d.id, dashboard.DriverUsage(0, Decimal(0)))
        balance = balances.get(d.id)
        drivers.append(
            {
                "id": d.id,
                "name": d.name,
                "email": d.email,
                "payment_method": d.payment_method,
                "sessions": u.sessions,
                "kwh": u.kwh,
                "wallet_balance": balance.amount if balance else None,
                "wallet_currency": balance.currency if balance else None,
            }
        )
    return render(
        request,
        caller,
        "dashboard/drivers.html",
        "drivers",
        title="Drivers",
        drivers=drivers,
        next_url=next_url(request, page.next_cursor),
    )
