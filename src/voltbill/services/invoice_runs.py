"""Batch jobs of invoicing: catch-up of settled sessions without invoice, month-end statements, PDF rendering.

All are safe to rerun: issuing is keyed (``source_key``), a billed CDR is never billed again, a rendered PDF is kept.
PDF rendering can fan out over processes (Typst and Factur-X are CPU-bound; the database stays in this process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.tables.invoices import InvoiceCdrRow
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.adapters.store.tables.registry import Driver, Operator
from voltbill.adapters.store.tables.sessions import CdrRow
from voltbill.domain.clock import Clock
from voltbill.domain.errors import VoltbillError
from voltbill.services import registry
from voltbill.services.events import CatchUpSchedule
from voltbill.services.invoice_documents import RenderProcess, render_pending
from voltbill.services.invoicing import (
    IssuedInvoice,
    check_period,
    issue_monthly_statements,
    issue_session_invoice,
)
from voltbill.services.outbox import process_outbox

log = logging.getLogger(__name__)

# Payment statuses after which a session counts as settled (services.settlement); post-paid ``on_account`` sessions
# are billed by the monthly statement instead.
SETTLED = ("captured", "capture_pending", "paid", "free", "failed")
Progress = Callable[[int], None]


def catch_up(db: Database, clock: Clock, limit: int = 200) -> int:
    """Issue the invoice or receipt of every settled session that has none (a missed ``session.settled``)."""
    with db.uow() as uow:
        billed = select(InvoiceCdrRow.cdr_id)
        cdr_ids = list(
            uow.session.scalars(
                select(Payment.cdr_id)
                .where(Payment.cdr_id.is_not(None), Payment.status.in_(SETTLED), Payment.cdr_id.not_in(billed))
                .where(Payment.payment_method != "invoice")
                .order_by(Payment.created_at)
                .limit(limit)
            )
        )
    issued = 0
    for cdr_id in cdr_ids:
        try:
            with db.uow() as uow:
                issued += issue_session_invoice(uow, str(cdr_id), clock=clock) is not None
        except VoltbillError as exc:
            log.warning("cannot invoice CDR %s yet: %s", cdr_id, exc)
    return issued


@dataclass(frozen=True, slots=True)
class MonthlyRun:
    """Outcome of ``run_monthly``: ``drivers`` looked at, ``issued`` new statements, ``existing`` replays."""

    drivers: int
    issued: list[str]
    existing: list[str]


def post_paid_drivers(db: Database, operator_id: str | None = None) -> list[str]:
    with db.uow() as uow:
        stmt = select(Driver.id).where(Driver.payment_method == "invoice").order_by(Driver.id)
        if operator_id is not None:
            stmt = stmt.where(Driver.operator_id == operator_id)
        return list(uow.session.scalars(stmt))


def run_monthly(
    db: Database, period: str, *, clock: Clock, operator_id: str | None = None, progress: Progress | None = None
) -> MonthlyRun:
    """Issue the ``period`` (``YYYY-MM``, in the operator's time zone) statement of every post-paid driver: their
    priced CDRs that ended in the month and are on no invoice yet. Safe to rerun."""
    first, after = check_period(period)
    drivers = post_paid_drivers(db, operator_id)
    issued: list[str] = []
    existing: list[str] = []
    for driver_id in drivers:
        with db.uow() as uow:
            driver = uow.session.get(Driver, driver_id)
            assert driver is not None
            operator = uow.session.get(Operator, driver.operator_id)
            tz = ZoneInfo(operator.time_zone if operator else "UTC")
            start, end = first.replace(tzinfo=tz), after.replace(tzinfo=tz)
            rows = list(
                uow.session.scalars(
                    select(CdrRow)
                    .where(CdrRow.driver_id == driver_id, CdrRow.priced.is_(True))
                    .where(CdrRow.end_date_time >= start, CdrRow.end_date_time < end)
                    .where(CdrRow.id.not_in(select(InvoiceCdrRow.cdr_id)))
                    .order_by(CdrRow.end_date_time)
                )
            )
            zones = _time_zones(uow, rows)
            documents: list[IssuedInvoice] = []
            if rows:
                documents = issue_monthly_statements(
                    uow,
                    driver_id,
                    period,
                    [dict(r.data) for r in rows],
                    clock=clock,
                    time_zones=zones,
                    charge_points={r.id: r.charge_point_id for r in rows},
                )
        for doc in documents:
            assert doc.invoice.number is not None
            (issued if doc.created else existing).append(doc.invoice.number)
        if progress is not None:
            progress(1)
    return MonthlyRun(len(drivers), issued, existing)


def _time_zones(uow: Any, rows: list[CdrRow]) -> dict[str, str]:
    zones: dict[str, str] = {}
    cache: dict[str, str] = {}
    for row in rows:
        if row.charge_point_id not in cache:
            cp = registry.get_charge_point(uow, row.charge_point_id)
            cache[row.charge_point_id] = cp.time_zone if cp else "UTC"
        zones[row.id] = cache[row.charge_point_id]
    return zones


RENDER_BATCH = 100  # PDFs per round of the server's invoicing worker


def run_once(
    db: Database,
    clock: Clock,
    smtp_url: str | None,
    smtp_timeout_s: float,
    schedule: CatchUpSchedule,
    renderer: RenderProcess,
) -> bool:
    """One round of the server's invoicing worker: catch up (when ``schedule`` says), render in ``renderer``, send.
    True when a whole batch of PDFs was rendered (more may be waiting: the next round need not pause)."""
    schedule.run(lambda: catch_up(db, clock))
    rendered = render_pending(db, clock, limit=RENDER_BATCH, renderer=renderer)
    process_outbox(db, clock, smtp_url, timeout_s=smtp_timeout_s)
    return rendered == RENDER_BATCH
