"""``/api/v1/analytics``: usage, peak hours, revenue, placement, anomalies (with review) and tariff what-if as JSON.

Reads come from a per-operator DuckDB snapshot of the store, reloaded at most once a minute
(``voltbill.services.analytics.EngineCache``). Money is a decimal string next to its currency; ratios and power
are numbers. Filters: ``from``/``to`` (ISO date or datetime, ``to`` exclusive; without offset = station local
time) and ``location``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from voltbill.adapters.analytics.engine import AnalyticsEngine
from voltbill.api.deps import ClockDep, DbDep, OperatorDep, UowDep
from voltbill.domain.errors import InvalidInput
from voltbill.domain.tariffs import parse_tariff
from voltbill.services import analytics as svc

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

From = Annotated[str | None, Query(alias="from", description="Sessions starting at or after (ISO date/datetime).")]
To = Annotated[str | None, Query(alias="to", description="Sessions starting before (exclusive).")]
LocationQ = Annotated[str | None, Query(alias="location", description="Only this location id.")]


def _engine(request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep) -> AnalyticsEngine:
    return svc.shared_engine(request.app.state, db, caller.operator_id, clock)


def _filters(start: str | None, end: str | None, location: str | None) -> svc.Filters:
    return svc.Filters(start=_moment(start, "from"), end=_moment(end, "to"), location_id=location)


def _moment(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not an ISO date or datetime", field=field) from None


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _items(rows: list[Any]) -> dict[str, Any]:
    return {"items": [_json(asdict(row)) for row in rows], "next_cursor": None}


@router.get("/usage", summary="Sessions, kWh, connected vs charging time and utilisation")
def get_usage(
    request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep,
    by: Literal["station", "location", "evse", "day", "hour"] = "station",
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    return _items(svc.usage(engine, _filters(start, end, location), by=by))


@router.get("/peaks", summary="Weekday x hour heatmap (local time) of sessions started and power drawn")
def get_peaks(
    request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep, per_location: bool = False,
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    return _items(svc.peak_hours(engine, _filters(start, end, location), per_location=per_location))


@router.get("/revenue", summary="Revenue per period and key with growth and averages")
def get_revenue(
    request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep,
    period: Literal["day", "week", "month"] = "day",
    by: Literal["total", "location", "tariff", "payment_method"] = "total",
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    return _items(svc.revenue(engine, _filters(start, end, location), period=period, by=by))


@router.get("/placement", summary="Locations ranked by demand against capacity")
def get_placement(
    request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep,
    queue_minutes: Annotated[int, Query(ge=1, le=240)] = 15,
    target_utilisation: Annotated[float, Query(gt=0, le=1)] = 0.8,
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    rows = svc.location_demand(engine, _filters(start, end, location), queue_minutes=queue_minutes,
                               target_utilisation=target_utilisation)  # fmt: skip
    return {"items": [_json(asdict(r)) | {"exceeds_capacity": r.exceeds_capacity} for r in rows], "next_cursor": None}


@router.get("/areas", summary="H3 cells ranked by demand against capacity")
def get_areas(
    request: Request, db: DbDep, caller: OperatorDep, clock: ClockDep,
    resolution: Annotated[int, Query(ge=0, le=15)] = 7,
    queue_minutes: Annotated[int, Query(ge=1, le=240)] = 15,
    target_utilisation: Annotated[float, Query(gt=0, le=1)] = 0.8,
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    filters = _filters(start, end, location)
    ranked = svc.location_demand(engine, filters, queue_minutes=queue_minutes, target_utilisation=target_utilisation)
    areas = svc.area_demand(ranked, resolution=resolution, target_utilisation=target_utilisation,
                            window_hours=engine.span_seconds(filters) / 3600)  # fmt: skip
    return {"items": [_json(asdict(a)) | {"exceeds_capacity": a.exceeds_capacity} for a in areas], "next_cursor": None}


@router.get("/anomalies", summary="Sessions that look wrong, with reason, resolution and review mark")
def get_anomalies(
    request: Request, db: DbDep, uow: UowDep, caller: OperatorDep, clock: ClockDep, include_reviewed: bool = True,
    start: From = None, end: To = None, location: LocationQ = None,
) -> dict[str, Any]:  # fmt: skip
    engine = _engine(request, db, caller, clock)
    rows = svc.anomalies(engine, uow, caller.operator_id, _filters(start, end, location),
                         include_reviewed=include_reviewed)  # fmt: skip
    return _items(rows)


@router.post("/anomalies/{session_id}/{kind}/check", summary="Mark an anomaly as checked (idempotent)")
def check_anomaly(
    session_id: str, kind: str, uow: UowDep, caller: OperatorDep, clock: ClockDep,
    note: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> dict[str, Any]:  # fmt: skip
    review = svc.mark_checked(uow, caller.operator_id, session_id, kind, reviewed_by=caller.subject, clock=clock,
                              note=note)  # fmt: skip
    return _json(asdict(review))  # type: ignore[no-any-return]


@router.post("/anomalies/{session_id}/{kind}/credit", summary="Credit the session's receipt and mark the anomaly")
def credit_anomaly(
    session_id: str, kind: str, uow: UowDep, caller: OperatorDep, clock: ClockDep,
    note: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> dict[str, Any]:  # fmt: skip
    review = svc.credit_anomaly(uow, caller.operator_id, session_id, kind, reviewed_by=caller.subject, clock=clock,
                                note=note)  # fmt: skip
    return _json(asdict(review))  # type: ignore[no-any-return]


@router.post("/whatif", summary="Re-price recent sessions with a proposed OCPI tariff")
def tariff_whatif(
    uow: UowDep, caller: OperatorDep, clock: ClockDep,
    tariff: Annotated[dict[str, Any], Body(description="The proposed OCPI 2.2.1 Tariff object.")],
    days: Annotated[int, Body(ge=1, le=366)] = 30,
    location: Annotated[str | None, Body()] = None,
) -> dict[str, Any]:  # fmt: skip
    proposed = parse_tariff(tariff)
    report = svc.tariff_whatif(uow, caller.operator_id, proposed, days=days, clock=clock, location_id=location)
    return _json(asdict(report))  # type: ignore[no-any-return]
