"""Analytics pages: usage, peak-hour heatmap, revenue trend, placement (demand per site), tariff what-if, and the
anomaly review list. The figures come from the analytics engine (DuckDB over the store), loaded once per
operator and minute and shared by every chart of a page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from voltbill.api.auth import CsrfDep
from voltbill.api.dashboard.web import OperatorUser, OperatorWriter, render
from voltbill.api.deps import ClockDep, DbDep, UowDep
from voltbill.domain.errors import InvalidInput, NotFound, VoltbillError
from voltbill.domain.tariffs import parse_tariff
from voltbill.services import analytics, dashboard, registry

router = APIRouter(include_in_schema=False)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = [f"{h:02d}" for h in range(24)]
WINDOWS = (7, 30, 90)


def _engine(request: Request, db: Any, operator_id: str, clock: Any) -> analytics.AnalyticsEngine:
    # One engine per operator for the REST API and the pages, reloaded when a minute old.
    return analytics.shared_engine(request.app.state, db, operator_id, clock)


def _window(days: int, clock: Any) -> analytics.Filters:
    if days not in WINDOWS:
        raise InvalidInput(f"days must be one of {', '.join(map(str, WINDOWS))}.", field="days")
    return analytics.Filters(start=clock.now() - timedelta(days=days))


def _d(value: Decimal | float, places: str = "0.01") -> str:
    return format(Decimal(str(value)).quantize(Decimal(places)), "f")


@router.get("/dashboard/analytics", response_class=HTMLResponse, name="dashboard_analytics")
def analytics_page(
    request: Request, caller: OperatorUser, db: DbDep, clock: ClockDep, days: int = Query(30)
) -> HTMLResponse:
    filters = _window(days, clock)
    engine = _engine(request, db, caller.operator_id, clock)
    stations = analytics.usage(engine, filters, by="station")
    cells = analytics.peak_hours(engine, filters)
    revenue = analytics.revenue(engine, filters, period="day" if days <= 30 else "week")
    sites = analytics.location_demand(engine, filters)
    names = {s.location_id: s.name or s.location_id for s in sites}

    usage_spec = {
        "x": [s.key for s in stations],
        "series": [{"name": "Energy (kWh)", "data": [_d(s.kwh, "0.1") for s in stations]}],
        "unit": "kWh",
    }
    usage_rows = [
        (s.key, s.sessions, _d(s.kwh, "0.1"), _d(s.connected_hours, "0.1"), _pct(s.utilisation)) for s in stations
    ]
    heat = [[c.hour, c.weekday - 1, _d(c.mean_power_kw, "0.1")] for c in cells]
    heat_rows = [(WEEKDAYS[c.weekday - 1], HOURS[c.hour], c.sessions, _d(c.mean_power_kw, "0.1")) for c in cells]
    currencies = sorted({r.currency for r in revenue})
    periods = sorted({r.period_start for r in revenue})
    by_key = {(r.currency, r.period_start): r.revenue_excl_vat for r in revenue}
    revenue_spec = {
        "x": [p.isoformat() for p in periods],
        "series": [
            {"name": f"Revenue excl. VAT ({c})", "data": [_d(by_key.get((c, p), Decimal(0))) for p in periods]}
            for c in currencies
        ],
        "area": True,
    }
    revenue_rows = [(r.period_start.isoformat(), r.currency, r.sessions, _d(r.revenue_excl_vat)) for r in revenue]
    placement_spec = {
        "points": [
            {"name": s.name or s.location_id, "lon": s.longitude, "lat": s.latitude, "value": _d(s.demand_ratio)}
            for s in sites
            if s.latitude is not None and s.longitude is not None
        ],
        "unit": "× capacity",
    }
    placement_rows = [
        (names[s.location_id], s.evses, s.sessions, _pct(s.utilisation), s.queued_sessions, s.refused_starts,
         _d(s.demand_ratio))
        for s in sites
    ]  # fmt: skip
    return render(
        request,
        caller,
        "dashboard/analytics.html",
        "analytics",
        title="Analytics",
        charts=True,
        days=days,
        windows=WINDOWS,
        usage_spec=usage_spec,
        usage_rows=usage_rows,
        heat_spec={"x": HOURS, "y": list(WEEKDAYS), "data": heat, "unit": "kW"},
        heat_rows=heat_rows,
        revenue_spec=revenue_spec,
        revenue_rows=revenue_rows,
        placement_spec=placement_spec,
        placement_rows=placement_rows,
        crowded=[names[s.location_id] for s in sites if s.exceeds_capacity],
    )


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


@router.get("/dashboard/analytics/what-if", response_class=HTMLResponse, name="dashboard_whatif")
def whatif_page(
    request: Request,
    caller: OperatorUser,
    uow: UowDep,
    clock: ClockDep,
    tariff_id: str | None = Query(None, max_length=36),
    days: int = Query(30),
) -> HTMLResponse:
    tariffs = registry.list_tariffs(uow, caller.operator_id, limit=200).items
    report, error = None, None
    if tariff_id:
        record = registry.get_tariff(uow, caller.operator_id, tariff_id)
        if record is None:
            raise NotFound(f"tariff {tariff_id} does not exist.", code="tariff_not_found")
        try:
            report = analytics.tariff_whatif(uow, caller.operator_id, parse_tariff(record.data), days=days, clock=clock)
        except VoltbillError as exc:
            error = exc.message
    names = dashboard.location_names(uow, caller.operator_id)
    return render(
        request,
        caller,
        "dashboard/whatif.html",
        "analytics",
        title="Tariff what-if",
        tariffs=tariffs,
        tariff_id=tariff_id or "",
        days=days,
        windows=WINDOWS,
        report=report,
        error=error,
        names=names,
    )


@router.get("/dashboard/anomalies", response_class=HTMLResponse, name="dashboard_anomalies")
def anomalies_page(
    request: Request,
    caller: OperatorUser,
    uow: UowDep,
    db: DbDep,
    clock: ClockDep,
    days: int = Query(90),
    show: str = Query("open"),
) -> HTMLResponse:
    engine = _engine(request, db, caller.operator_id, clock)
    rows = analytics.anomalies(engine, uow, caller.operator_id, _window(days, clock), include_reviewed=show == "all")
    return render(
        request,
        caller,
        "dashboard/anomalies.html",
        "anomalies",
        title="Anomalies",
        anomalies=sorted(rows, key=lambda a: a.start_date_time, reverse=True),
        days=days,
        windows=WINDOWS,
        show=show,
        flash="Marked as checked." if request.query_params.get("checked") else None,
    )


@router.post("/dashboard/anomalies/check", name="dashboard_anomaly_check")
def check_anomaly(
    request: Request,
    caller: OperatorWriter,
    uow: UowDep,
    clock: ClockDep,
    _csrf: CsrfDep,
    session_id: str = Form(..., max_length=64),
    kind: str = Form(..., max_length=40),
    note: str = Form("", max_length=500),
) -> RedirectResponse:
    analytics.mark_checked(
        uow, caller.operator_id, session_id, kind, reviewed_by=caller.subject, clock=clock, note=note or None
    )
    target = request.url_for("dashboard_anomalies").include_query_params(checked="1")
    return RedirectResponse(str(target), status_code=303)
