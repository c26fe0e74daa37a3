"""The signed-in driver's own sessions (status, live cost while charging). Every query is scoped to the
driver's id from the session cookie, never to a parameter of the request."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from voltbill.api.dashboard.operator_pages import PAGE_SIZE, live_figures, next_url
from voltbill.api.dashboard.web import DriverUser, render
from voltbill.api.deps import ClockDep, UowDep
from voltbill.services import charging, dashboard

router = APIRouter(include_in_schema=False)


@router.get("/driver", response_class=HTMLResponse, name="driver_sessions")
def my_sessions_page(
    request: Request,
    caller: DriverUser,
    uow: UowDep,
    clock: ClockDep,
    cursor: str | None = Query(None, max_length=200),
) -> HTMLResponse:
    items, next_cursor = charging.list_sessions(
        uow, operator_id=caller.operator_id, driver_id=caller.driver_id, limit=PAGE_SIZE, cursor=cursor
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
                "currency": currency,
                "cost": cost,
                "time_zone": extras.time_zones.get(s["charge_point_id"], "UTC"),
            }
        )
    return render(
        request,
        caller,
        "driver/sessions.html",
        "my-sessions",
        title="My sessions",
        sessions=rows,
        charging_now=[r for r in rows if r["status"] == "active"],
        now=clock.now(),
        next_url=next_url(request, next_cursor),
    )
