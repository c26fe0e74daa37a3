"""Work that is queued and not done yet, for operators: what a provider, SMTP or database outage left behind.

Every queue here is durable and drained by a background worker (payments worker, invoicing worker, OCPP sweeper),
so after an outage the counts fall back to zero on their own; this view shows what is still waiting and since when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.sql import Select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.invoices import InvoiceOutboxRow, InvoiceRow
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.adapters.store.tables.registry import ChargePoint, Driver
from voltbill.adapters.store.tables.sessions import CdrRow, SessionRow
from voltbill.domain.clock import ensure_utc


@dataclass(frozen=True, slots=True)
class PendingKind:
    """One queue: ``kind`` (stable name), ``description``, ``count``, ``oldest_at`` (when its oldest item was made)."""

    kind: str
    description: str
    count: int
    oldest_at: datetime | None

    def to_json(self, now: datetime) -> dict[str, Any]:
        oldest = ensure_utc(self.oldest_at) if self.oldest_at else None
        return {
            "kind": self.kind,
            "description": self.description,
            "count": self.count,
            "oldest_at": oldest.isoformat().replace("+00:00", "Z") if oldest else None,
            "oldest_age_s": int((now - oldest).total_seconds()) if oldest else None,
        }


def _queues(operator_id: str | None) -> list[tuple[str, str, Select[Any]]]:
    def payments(*statuses: str) -> Select[Any]:
        stmt = select(func.count(), func.min(Payment.created_at)).where(Payment.status.in_(statuses))
        if operator_id:
            stmt = stmt.join(Driver, Driver.id == Payment.driver_id).where(Driver.operator_id == operator_id)
        return stmt

    def emails(status: str) -> Select[Any]:
        stmt = (
            select(func.count(), func.min(InvoiceOutboxRow.created_at))
            .join(InvoiceRow, InvoiceRow.id == InvoiceOutboxRow.invoice_id)
            .where(InvoiceOutboxRow.status == status)
        )
        return stmt.where(InvoiceRow.operator_id == operator_id) if operator_id else stmt

    def by_charger(stmt: Select[Any], charge_point_id: Any) -> Select[Any]:
        if operator_id:
            stmt = stmt.join(ChargePoint, ChargePoint.id == charge_point_id).where(
                ChargePoint.operator_id == operator_id
            )
        return stmt

    settled = select(Payment.cdr_id).where(Payment.cdr_id.is_not(None))
    return [
        (
            "captures_pending",
            "card payments waiting to be captured or charged (retried by the payments worker)",
            payments("capture_pending"),
        ),
        (
            "payments_to_follow_up",
            "card payments declined or failed for good (booked as the driver's debt)",
            payments("declined", "failed"),
        ),
        (
            "cdrs_unsettled",
            "priced CDRs of a registered driver not yet settled (settled by the payments worker)",
            by_charger(
                select(func.count(), func.min(CdrRow.created_at))
                .join(Driver, Driver.id == CdrRow.driver_id)
                .where(CdrRow.priced.is_(True), CdrRow.total_excl_vat.is_not(None), CdrRow.id.not_in(settled)),
                CdrRow.charge_point_id,
            ),
        ),
        (
            "cdrs_unpriced",
            "CDRs that could not be priced (no tariff in force, bad data); see their error_code",
            by_charger(
                select(func.count(), func.min(CdrRow.created_at)).where(CdrRow.priced.is_(False)),
                CdrRow.charge_point_id,
            ),
        ),
        (
            "sessions_closed_by_timeout",
            "sessions closed because their charger went silent (priced up to the last reading)",
            by_charger(
                select(func.count(), func.min(SessionRow.created_at)).where(
                    cast(SessionRow.flags, String).like("%closed_by_timeout%")
                ),
                SessionRow.charge_point_id,
            ),
        ),
        ("emails_queued", "invoice e-mails waiting to be sent (retried with backoff)", emails("pending")),
        ("emails_failed", "invoice e-mails that gave up; `voltbill invoices resend NUMBER`", emails("failed")),
    ]


def pending_work(uow: UnitOfWork, operator_id: str | None = None) -> list[PendingKind]:
    """Every queue with its count and oldest item; ``operator_id`` limits it to one operator (None: all)."""
    result = []
    for kind, description, stmt in _queues(operator_id):
        count, oldest = uow.session.execute(stmt).one()
        result.append(PendingKind(kind, description, int(count or 0), oldest))
    return result


def pending_json(items: list[PendingKind], now: datetime) -> dict[str, Any]:
    """``{"total": n, "items": [...]}`` as ``GET /api/v1/pending`` and ``voltbill status --json`` print it."""
    return {"total": sum(i.count for i in items), "items": [i.to_json(now) for i in items]}
