"""Analytics use cases: open an engine over the store or a Parquet export, answer the analyses, review anomalies
(mark as checked, or credit the session's receipt through invoicing) and re-price recent sessions with a proposed
tariff.

The analyses themselves are the engine's queries, re-exported here so callers need one import:
``usage``, ``peak_hours``, ``revenue``, ``location_demand``, ``area_demand``, ``find_anomalies`` (without review
marks; use ``anomalies`` for the reviewed view).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from voltbill.adapters.analytics.anomalies import AnomalyRow, find_anomalies
from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.adapters.analytics.loader import load_input
from voltbill.adapters.analytics.peaks import PeakCell, busiest, peak_hours
from voltbill.adapters.analytics.placement import AreaDemand, LocationDemand, area_demand, location_demand
from voltbill.adapters.analytics.revenue import RevenueRow, revenue
from voltbill.adapters.analytics.usage import UsageRow, usage
from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.adapters.store.tables.analytics import AnomalyReviewRow
from voltbill.adapters.store.tables.invoices import InvoiceCdrRow, InvoiceRow
from voltbill.adapters.store.tables.registry import ChargePoint, Location
from voltbill.adapters.store.tables.sessions import CdrRow, SessionRow
from voltbill.domain.anomalies import AnomalyKind, AnomalyRules, creditable
from voltbill.domain.clock import Clock
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.domain.pricing.periods import read_session
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.rounding import cdr_amount
from voltbill.domain.tariffs import Tariff
from voltbill.services.invoicing import credit_invoice

__all__ = [
    "AnalyticsEngine",
    "AnomalyReview",
    "AnomalyRow",
    "AreaDemand",
    "EngineCache",
    "Filters",
    "LocationDemand",
    "PeakCell",
    "RevenueRow",
    "UsageRow",
    "WhatIfReport",
    "WhatIfRow",
    "anomalies",
    "area_demand",
    "busiest",
    "credit_anomaly",
    "export_parquet",
    "find_anomalies",
    "location_demand",
    "mark_checked",
    "open_engine",
    "open_parquet",
    "peak_hours",
    "revenue",
    "shared_engine",
    "tariff_whatif",
    "usage",
]


# ---- engines ----------------------------------------------------------------------------------------------------


def open_engine(uow: UnitOfWork, operator_id: str, clock: Clock) -> AnalyticsEngine:
    """An engine over the operator's data as stored now."""
    return AnalyticsEngine.from_input(load_input(uow, operator_id), now=clock.now())


def open_parquet(directory: Path, clock: Clock) -> AnalyticsEngine:
    """An engine over a Parquet export (``voltbill analytics export --parquet DIR``)."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory with a Parquet export", field="input")
    return AnalyticsEngine.from_parquet(directory, now=clock.now())


def export_parquet(uow: UnitOfWork, operator_id: str, directory: Path) -> list[Path]:
    """Write the operator's analytics input as Parquet files into ``directory``; returns the files."""
    return load_input(uow, operator_id).write_parquet(directory)


class EngineCache:
    """One engine per operator, reloaded from the store when older than ``max_age_s`` (for the web and REST
    API, so a page with several charts loads the data once)."""

    def __init__(self, max_age_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._engines: dict[str, tuple[float, AnalyticsEngine]] = {}

    def get(self, db: Database, operator_id: str, clock: Clock) -> AnalyticsEngine:
        with self._lock:
            cached = self._engines.get(operator_id)
            if cached is not None and self._monotonic() - cached[0] < self.max_age_s:
                return cached[1]
            with db.uow() as uow:
                engine = open_engine(uow, operator_id, clock)
            self._engines[operator_id] = (self._monotonic(), engine)
            return engine


_state_lock = threading.Lock()


def shared_engine(state: Any, db: Database, operator_id: str, clock: Clock) -> AnalyticsEngine:
    """The application's engine for ``operator_id`` from one ``EngineCache`` kept on ``state`` (``app.state``),
    so the REST API and the dashboard load the data once between them."""
    with _state_lock:
        cache = getattr(state, "analytics_cache", None)
        if cache is None:
            cache = state.analytics_cache = EngineCache()
    return cache.get(db, operator_id, clock)


# ---- anomalies --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnomalyReview:
    """An operator's verdict on one anomaly: ``status`` ``checked`` or ``credited`` (``credit_note`` number)."""

    session_id: str
    kind: AnomalyKind
    status: str
    note: str | None
    credit_note: str | None
    reviewed_by: str
    reviewed_at: datetime


def anomalies(
    engine: AnalyticsEngine,
    uow: UnitOfWork,
    operator_id: str,
    filters: Filters,
    *,
    rules: AnomalyRules | None = None,
    include_reviewed: bool = True,
) -> list[AnomalyRow]:
    """The anomalies with their review marks; ``include_reviewed=False`` leaves out those already handled."""
    found = find_anomalies(engine, filters, rules)
    reviews = {
        (r.session_id, r.kind): r
        for r in uow.session.scalars(select(AnomalyReviewRow).where(AnomalyReviewRow.operator_id == operator_id))
    }
    marked = []
    for row in found:
        review = reviews.get((row.session_id, row.kind.value))
        if review is None:
            marked.append(row)
        elif include_reviewed:
            marked.append(
                replace(row, review_status=review.status, checked_at=review.reviewed_at,
                        checked_by=review.reviewed_by, note=review.note, credit_note=review.credit_note)
            )  # fmt: skip
    return marked


def mark_checked(
    uow: UnitOfWork, operator_id: str, session_id: str, kind: str, *, reviewed_by: str, clock: Clock,
    note: str | None = None,
) -> AnomalyReview:  # fmt: skip
    """Record that the operator checked this anomaly. Idempotent: a repeated mark returns the first one."""
    anomaly_kind = _kind(kind)
    _require_session(uow, operator_id, session_id)
    existing = _review(uow, operator_id, session_id, anomaly_kind)
    if existing is not None:
        return _review_value(existing)
    row = AnomalyReviewRow(
        operator_id=operator_id, session_id=session_id, kind=anomaly_kind.value, status="checked", note=note,
        reviewed_by=reviewed_by, reviewed_at=clock.now(),
    )  # fmt: skip
    uow.session.add(row)
    uow.commit()
    return _review_value(row)


def credit_anomaly(
    uow: UnitOfWork, operator_id: str, session_id: str, kind: str, *, reviewed_by: str, clock: Clock,
    note: str | None = None,
) -> AnomalyReview:  # fmt: skip
    """Resolve the anomaly with a credit note for the session's receipt, issued by invoicing, and mark it
    ``credited``. Refused by name when the kind is not creditable, the session is not invoiced yet
    (``session_not_invoiced``) or its invoice covers other sessions too (``invoice_covers_other_sessions``:
    credit that statement from invoicing). Idempotent: a repeated request returns the first credit."""
    anomaly_kind = _kind(kind)
    if not creditable(anomaly_kind):
        raise Conflict(f"a {anomaly_kind.value} anomaly is not resolved by a credit note; mark it as checked",
                       code="anomaly_not_creditable")  # fmt: skip
    session = _require_session(uow, operator_id, session_id)
    existing = _review(uow, operator_id, session_id, anomaly_kind)
    if existing is not None and existing.status == "credited":
        return _review_value(existing)
    invoice = _session_invoice(uow, operator_id, session)
    issued = credit_invoice(uow, operator_id, invoice.number or "", clock=clock)
    row = existing or AnomalyReviewRow(operator_id=operator_id, session_id=session_id, kind=anomaly_kind.value)
    row.status, row.note, row.reviewed_by, row.reviewed_at = "credited", note, reviewed_by, clock.now()
    row.credit_note = issued.invoice.number
    uow.session.add(row)
    uow.commit()
    return _review_value(row)


def _kind(kind: str) -> AnomalyKind:
    try:
        return AnomalyKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in AnomalyKind)
        raise InvalidInput(f"unknown anomaly kind {kind!r}; use one of {known}", field="kind") from None


def _require_session(uow: UnitOfWork, operator_id: str, session_id: str) -> SessionRow:
    row = uow.session.scalars(
        select(SessionRow)
        .join(ChargePoint, ChargePoint.id == SessionRow.charge_point_id)
        .where(SessionRow.id == session_id, ChargePoint.operator_id == operator_id)
    ).first()
    if row is None:
        raise NotFound(f"session {session_id} does not exist", code="session_not_found", field="session_id")
    return row


def _review(uow: UnitOfWork, operator_id: str, session_id: str, kind: AnomalyKind) -> AnomalyReviewRow | None:
    return uow.session.scalars(
        select(AnomalyReviewRow).where(
            AnomalyReviewRow.operator_id == operator_id,
            AnomalyReviewRow.session_id == session_id,
            AnomalyReviewRow.kind == kind.value,
        )
    ).first()


def _review_value(row: AnomalyReviewRow) -> AnomalyReview:
    return AnomalyReview(
        session_id=row.session_id, kind=AnomalyKind(row.kind), status=row.status, note=row.note,
        credit_note=row.credit_note, reviewed_by=row.reviewed_by, reviewed_at=row.reviewed_at,
    )  # fmt: skip


def _session_invoice(uow: UnitOfWork, operator_id: str, session: SessionRow) -> InvoiceRow:
    cdr_id = session.cdr_id or uow.session.scalar(select(CdrRow.id).where(CdrRow.session_id == session.id))
    invoice = None
    if cdr_id is not None:
        invoice = uow.session.scalars(
            select(InvoiceRow)
            .join(InvoiceCdrRow, InvoiceCdrRow.invoice_id == InvoiceRow.id)
            .where(InvoiceCdrRow.cdr_id == cdr_id, InvoiceRow.operator_id == operator_id)
        ).first()
    if invoice is None or invoice.number is None:
        raise Conflict(f"session {session.id} has no issued invoice or receipt to credit yet",
                       code="session_not_invoiced")  # fmt: skip
    covered = uow.session.scalar(select(func.count()).where(InvoiceCdrRow.invoice_id == invoice.id))
    if covered and covered > 1:
        raise Conflict(f"invoice {invoice.number} covers {covered} sessions; credit it from invoicing instead",
                       code="invoice_covers_other_sessions")  # fmt: skip
    return invoice


# ---- tariff what-if ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfRow:
    """Revenue excl. VAT of ``key`` (a location id, or ``total``) now and with the proposed tariff, in
    ``currency`` (CDR amounts, 4 decimals); ``change_pct`` None when there was no revenue."""

    key: str
    sessions: int
    currency: str
    current_excl_vat: Decimal
    proposed_excl_vat: Decimal
    change: Decimal
    change_pct: float | None


@dataclass(frozen=True)
class WhatIfReport:
    """The proposed ``tariff_id`` applied to the sessions that ended in [``since``, ``until``): per-location rows
    then the total; ``skipped`` counts sessions in another currency or without a priced CDR."""

    tariff_id: str
    since: datetime
    until: datetime
    rows: list[WhatIfRow]
    skipped: int


def tariff_whatif(
    uow: UnitOfWork, operator_id: str, tariff: Tariff, *, days: int, clock: Clock, location_id: str | None = None
) -> WhatIfReport:
    """Re-price the CDRs of the last ``days`` days with ``tariff`` (the pricing engine over their stored charging
    periods, in each station's time zone) and compare with what they were billed."""
    if days < 1:
        raise InvalidInput("days must be at least 1", field="days")
    until = clock.now()
    since = until - timedelta(days=days)
    stmt = (
        select(CdrRow, ChargePoint.location_id, Location.time_zone)
        .join(ChargePoint, ChargePoint.id == CdrRow.charge_point_id)
        .join(Location, Location.id == ChargePoint.location_id)
        .where(ChargePoint.operator_id == operator_id, CdrRow.end_date_time >= since, CdrRow.end_date_time < until)
        .order_by(CdrRow.end_date_time)
    )
    if location_id is not None:
        stmt = stmt.where(ChargePoint.location_id == location_id)
    sums: dict[str, list[Decimal | int]] = {}
    skipped = 0
    for cdr, loc, tz in uow.session.execute(stmt):
        if not cdr.priced or cdr.currency != tariff.currency or cdr.total_excl_vat is None:
            skipped += 1
            continue
        priced = price_session(tariff, read_session(cdr.data), ZoneInfo(tz))
        for key in (loc, "total"):
            acc = sums.setdefault(key, [0, Decimal(0), Decimal(0)])
            acc[0] += 1
            acc[1] += cdr.total_excl_vat
            acc[2] += cdr_amount(priced.total_cost.excl_vat)
    rows = [
        _whatif_row(key, int(n), tariff.currency, Decimal(cur), Decimal(new))
        for key, (n, cur, new) in sorted(sums.items(), key=lambda kv: (kv[0] == "total", kv[0]))
    ]
    return WhatIfReport(tariff_id=tariff.id, since=since, until=until, rows=rows, skipped=skipped)


def _whatif_row(key: str, n: int, currency: str, current: Decimal, proposed: Decimal) -> WhatIfRow:
    change = proposed - current
    pct = float(change / current * 100) if current else None
    return WhatIfRow(key, n, currency, current, proposed, change, pct)
