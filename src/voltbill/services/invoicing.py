"""Issuing invoices, receipts, monthly statements and credit notes; reading them; their PDFs; operator branding.

Issuing is one transaction: the document row, the CDRs it bills, the next number of its series (counter row locked
by the UPDATE until commit; SQLite: the BEGIN IMMEDIATE single writer) and the queued e-mail. A rollback takes the
number back, so numbers are gap-free; ``source_key`` makes issuing idempotent.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.documents.branding import Branding, branding_from, logo_type
from voltbill.adapters.documents.pdf import check_template
from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.adapters.store.tables.invoices import (
    InvoiceBrandingRow,
    InvoiceCdrRow,
    InvoiceCounterRow,
    InvoiceRow,
)
from voltbill.adapters.store.tables.registry import Operator
from voltbill.domain.clock import Clock
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.invoice_json import invoice_from_json, invoice_to_json
from voltbill.domain.invoices import Invoice, credit_note_for, finalise, monthly_statements, session_invoice
from voltbill.domain.numbering import format_number, parse_number, series_for
from voltbill.services.events import CatchUpSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    """An issued document: ``id`` (row id), ``invoice``, ``created`` (False when an earlier issue was replayed)."""

    id: int
    invoice: Invoice
    created: bool


# ---- branding -------------------------------------------------------------------------------------------------


def get_branding(uow: UnitOfWork, operator_id: str) -> tuple[Branding, bytes | None, str | None]:
    """The operator's branding, logo bytes and logo type (defaults when none was set)."""
    row = uow.session.get(InvoiceBrandingRow, operator_id)
    if row is None:
        operator = uow.session.get(Operator, operator_id)
        return Branding(legal_name=operator.name if operator else operator_id), None, None
    return branding_from(dict(row.settings)), row.logo, row.logo_type


def set_branding(
    uow: UnitOfWork, operator_id: str, changes: Mapping[str, Any], *, clock: Clock, logo: bytes | None = None
) -> Branding:
    """Change some branding fields (and/or the logo); the next rendered invoice uses them."""
    current, current_logo, current_type = get_branding(uow, operator_id)
    branding = branding_from(dict(changes), current)
    row = uow.session.get(InvoiceBrandingRow, operator_id)
    if row is None:
        row = InvoiceBrandingRow(operator_id=operator_id, logo=current_logo, logo_type=current_type)
        uow.session.add(row)
    if "template_source" in changes or "template" in changes:
        check_template(branding)
    row.settings = branding.to_json()
    if logo is not None:
        row.logo, row.logo_type = logo, logo_type(logo)
    row.updated_at = clock.now()
    uow.commit()
    return branding


# ---- numbering and issuing ------------------------------------------------------------------------------------


def _operator_tz(uow: UnitOfWork, operator_id: str) -> ZoneInfo:
    operator = uow.session.get(Operator, operator_id)
    return ZoneInfo(operator.time_zone if operator and operator.time_zone else "UTC")


def next_sequence(uow: UnitOfWork, operator_id: str, series: str) -> int:
    """Advance the series counter inside the caller's transaction. The UPDATE holds the counter row's lock until
    commit (PostgreSQL row lock, same effect as SELECT ... FOR UPDATE), so concurrent issuers queue here."""
    dialect = postgresql if uow.is_postgres else sqlite
    uow.session.execute(
        dialect.insert(InvoiceCounterRow)
        .values(operator_id=operator_id, series=series, last_value=0)
        .on_conflict_do_nothing()
    )
    counter = InvoiceCounterRow
    value = uow.session.execute(
        update(counter)
        .where(counter.operator_id == operator_id, counter.series == series)
        .values(last_value=counter.last_value + 1)
        .returning(counter.last_value)
    ).scalar_one()
    return int(value)


def _row_by_key(uow: UnitOfWork, source_key: str) -> InvoiceRow | None:
    return uow.session.scalars(select(InvoiceRow).where(InvoiceRow.source_key == source_key)).first()


def issue(
    uow: UnitOfWork,
    draft: Invoice,
    *,
    source_key: str,
    buyer: Mapping[str, Any],
    locale: str | None,
    clock: Clock,
    email_to: str | None = None,
    credits_id: int | None = None,
) -> IssuedInvoice:
    """Number, store and (when ``email_to`` is given) queue ``draft`` for e-mail in one transaction; commits.

    Replaying the same ``source_key`` returns the first document. A CDR billed by another document is refused
    (``cdr_already_invoiced``)."""
    from voltbill.services.outbox import enqueue_email

    existing = _row_by_key(uow, source_key)
    if existing is not None:
        return IssuedInvoice(existing.id, _invoice(existing), created=False)
    branding, _, _ = get_branding(uow, draft.operator_id)
    now = clock.now()
    row = InvoiceRow(
        operator_id=draft.operator_id,
        kind=draft.kind,
        status="draft",
        driver_id=draft.driver_id,
        currency=draft.currency,
        period=draft.period,
        source_key=source_key,
        credits_id=credits_id,
        gross_total=str(draft.gross_total),
        document=invoice_to_json(draft),
        parties={"seller": branding.to_json(), "buyer": dict(buyer)},
        locale=locale or "en",
        created_at=now,
    )
    try:
        uow.session.add(row)
        uow.session.flush()
        if draft.kind != "credit_note":
            uow.session.add_all(InvoiceCdrRow(cdr_id=cdr_id, invoice_id=row.id) for cdr_id in draft.cdr_ids)
            uow.session.flush()
    except IntegrityError:
        uow.rollback()
        existing = _row_by_key(uow, source_key)
        if existing is not None:
            return IssuedInvoice(existing.id, _invoice(existing), created=False)
        raise Conflict(
            f"a CDR of {', '.join(draft.cdr_ids)} is already on another invoice; credit that one first",
            code="cdr_already_invoiced",
        ) from None
    series = series_for(branding.invoice_prefix, draft.kind, now, _operator_tz(uow, draft.operator_id))
    sequence = next_sequence(uow, draft.operator_id, series)
    issued = finalise(draft, format_number(series, sequence), now)
    row.number, row.series, row.sequence = issued.number, series, sequence
    row.status, row.issued_at, row.document = issued.status, now, invoice_to_json(issued)
    row.pdf_pending = True
    if email_to:
        enqueue_email(uow, row, email_to, now)
    uow.commit()
    return IssuedInvoice(row.id, issued, created=True)


def _invoice(row: InvoiceRow) -> Invoice:
    data = dict(row.document)
    data["status"] = row.status
    return invoice_from_json(data)


def _buyer(driver: Any | None) -> dict[str, Any]:
    if driver is None:
        return {"name": None, "email": None, "lines": [], "country": None}
    address = dict(driver.billing_address or {})
    city = " ".join(str(address[k]) for k in ("postal_code", "city") if address.get(k))
    lines = [str(address[k]) for k in ("name", "address", "street", "line1", "line2") if address.get(k)]
    return {"name": driver.name, "email": driver.email, "lines": [*lines, *([city] if city else [])],
            "country": address.get("country")}  # fmt: skip


def issue_session_invoice(uow: UnitOfWork, cdr_id: str, *, clock: Clock) -> IssuedInvoice | None:
    """The invoice (registered driver) or receipt (ad-hoc payment) of one settled session; ``None`` for post-paid
    drivers, whose sessions go on the monthly statement. Idempotent per CDR."""
    from voltbill.services import registry
    from voltbill.services.sessions_query import get_cdr, get_session

    cdr = get_cdr(uow, cdr_id)
    if cdr is None:
        raise NotFound(f"CDR {cdr_id} does not exist", code="cdr_not_found")
    if cdr.get("total_cost") is None:
        raise Conflict(f"CDR {cdr_id} is not priced; re-price it before invoicing", code="cdr_not_priced")
    session = get_session(uow, str(cdr.get("session_id"))) or {}
    charge_point = registry.get_charge_point(uow, str(session.get("charge_point_id")))
    if charge_point is None:
        raise NotFound(f"the charge point of CDR {cdr_id} is not registered", code="charge_point_not_found")
    driver_id = session.get("driver_id")
    driver = registry.get_driver(uow, driver_id) if driver_id else None
    if driver is not None and driver.payment_method == "invoice":
        return None
    token = None
    if driver is not None and session.get("id_token"):
        token = registry.get_token(uow, charge_point.operator_id, driver.id, str(session["id_token"]))
    token_type = token.type if token is not None else (cdr.get("cdr_token") or {}).get("type")
    ad_hoc = driver is None or token_type == "AD_HOC_USER"  # OCPI 2.2.1 TokenType: ad-hoc payment -> receipt
    draft = session_invoice(
        cdr,
        operator_id=charge_point.operator_id,
        driver_id=driver.id if driver else None,
        receipt=ad_hoc,
        time_zone=charge_point.time_zone,
        charge_point_id=charge_point.id,
    )
    return issue(
        uow,
        draft,
        source_key=idempotency_key("invoice", cdr_id=cdr_id),
        buyer=_buyer(driver),
        locale=driver.locale if driver else None,
        clock=clock,
        email_to=driver.email if driver else None,
    )


def issue_monthly_statements(
    uow: UnitOfWork,
    driver_id: str,
    period: str,
    cdrs: list[dict[str, Any]],
    *,
    clock: Clock,
    time_zones: Mapping[str, str] | None = None,
    charge_points: Mapping[str, str] | None = None,
) -> list[IssuedInvoice]:
    """One statement per currency for a post-paid driver's month. Safe to rerun (keyed by driver, period,
    currency)."""
    from voltbill.services import registry

    driver = registry.get_driver(uow, driver_id)
    if driver is None:
        raise NotFound(f"driver {driver_id} does not exist", code="driver_not_found")
    drafts = monthly_statements(
        cdrs,
        operator_id=driver.operator_id,
        driver_id=driver_id,
        period=period,
        time_zones=time_zones,
        charge_points=charge_points,
    )
    return [
        issue(
            uow,
            draft,
            source_key=idempotency_key("statement", driver_id=driver_id, period=period, currency=draft.currency),
            buyer=_buyer(driver),
            locale=driver.locale,
            clock=clock,
            email_to=driver.email,
        )
        for draft in drafts
    ]


# ---- corrections ----------------------------------------------------------------------------------------------


def find_row(uow: UnitOfWork, operator_id: str, number: str, *, lock: bool = False) -> InvoiceRow:
    parse_number(number)  # a malformed number is invalid input, not a missing invoice
    stmt = select(InvoiceRow).where(InvoiceRow.operator_id == operator_id, InvoiceRow.number == number)
    row = uow.session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"invoice {number} does not exist", code="invoice_not_found", field="number")
    return row


def credit_invoice(uow: UnitOfWork, operator_id: str, number: str, *, clock: Clock) -> IssuedInvoice:
    """Issue a credit note cancelling invoice ``number`` in full and mark it ``credited``. Refused by name
    (``invoice_not_creditable``) for credit notes, void and already credited invoices."""
    row = find_row(uow, operator_id, number, lock=True)
    draft = credit_note_for(_invoice(row))  # raises invoice_not_creditable
    parties = dict(row.parties)
    key = idempotency_key("credit_note", invoice_id=row.id)
    row.status = "credited"
    uow.session.flush()
    return issue(
        uow,
        draft,
        source_key=key,
        buyer=parties.get("buyer", {}),
        locale=row.locale,
        clock=clock,
        email_to=(parties.get("buyer") or {}).get("email"),
        credits_id=row.id,
    )


def void_invoice(uow: UnitOfWork, operator_id: str, number: str) -> Invoice:
    """Mark an issued invoice ``void`` (it keeps its number). Only while it has not been sent to anyone; otherwise
    refused by name (``invoice_not_voidable``): credit it instead."""
    from voltbill.services.outbox import cancel_unsent, was_sent

    row = find_row(uow, operator_id, number, lock=True)
    if row.status != "issued" or row.kind == "credit_note" or was_sent(uow, row.id):
        raise Conflict(
            f"invoice {number} is {row.status}{' and was sent' if was_sent(uow, row.id) else ''}; "
            "only unsent issued invoices can be voided, credit it instead",
            code="invoice_not_voidable",
        )
    row.status = "void"
    cancel_unsent(uow, row.id)
    uow.commit()
    return _invoice(row)


# ---- reading --------------------------------------------------------------------------------------------------


def get_invoice(uow: UnitOfWork, operator_id: str, number: str) -> Invoice:
    """One invoice by number (``invoice_not_found`` otherwise)."""
    return _invoice(find_row(uow, operator_id, number))


def list_invoices(
    uow: UnitOfWork, operator_id: str, *, driver_id: str | None = None, limit: int = 50, after: int | None = None
) -> tuple[list[Invoice], int | None]:
    """Issued documents, newest first, as ``(invoices, id to continue after)``."""
    stmt = select(InvoiceRow).where(InvoiceRow.operator_id == operator_id, InvoiceRow.number.is_not(None))
    if driver_id is not None:
        stmt = stmt.where(InvoiceRow.driver_id == driver_id)
    if after is not None:
        stmt = stmt.where(InvoiceRow.id < after)
    rows = list(uow.session.scalars(stmt.order_by(InvoiceRow.id.desc()).limit(limit + 1)))
    return [_invoice(r) for r in rows[:limit]], (rows[limit - 1].id if len(rows) > limit else None)


def invoice_pdf(db: Database, operator_id: str, number: str, *, clock: Clock) -> bytes:
    """The invoice's PDF (with its Factur-X XML): rendered once, stored, served from the store afterwards."""
    from voltbill.services.invoice_documents import pdf_for

    return pdf_for(db, operator_id, number, clock=clock)


def check_period(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> its first instant and the next month's, as naive month bounds (zone applied by callers)."""
    try:
        start = datetime.strptime(period, "%Y-%m")
    except ValueError:
        raise InvalidInput(f"period {period!r} must look like 2026-10", field="period") from None
    return start, start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)


# ---- triggers -------------------------------------------------------------------------------------------------


def on_session_settled(db: Database, clock: Clock, payload: Mapping[str, Any]) -> IssuedInvoice | None:
    """``session.settled`` consumer: issue the session's invoice or receipt now (post-paid: at month end)."""
    if payload.get("payment_method") == "invoice":
        return None
    with db.uow() as uow:
        return issue_session_invoice(uow, str(payload["cdr_id"]), clock=clock)


def subscribe(state: Any) -> None:
    """Wire invoicing into a server: issue on ``session.settled``, and a background worker that catches up on
    settled sessions without invoice, renders PDFs and sends the e-mail outbox (retries with backoff)."""
    db: Database = state.db
    clock: Clock = state.clock
    state.bus.subscribe("session.settled", lambda payload: on_session_settled(db, clock, payload))
    worker = InvoicingWorker(state)
    state.invoicing_worker = worker
    worker.start()


class InvoicingWorker(threading.Thread):
    """Background loop of the server: PDF rendering (in a process of its own, ``RenderProcess``) and the e-mail
    outbox every ``interval_s`` seconds, at once again while PDFs wait, and the catch-up of settled sessions without
    invoice when its ``CatchUpSchedule`` says. Holds the app state weakly and ends when the app is gone or ``stop()``
    is called; while rounds fail (database down) it waits longer and longer, up to ``MAX_PAUSE_S``."""

    MAX_PAUSE_S = 300.0

    def __init__(self, state: Any, interval_s: float = 5.0) -> None:
        super().__init__(name="voltbill-invoicing", daemon=True)
        self._state = weakref.ref(state)
        self._stop_event = threading.Event()
        self.interval_s = interval_s
        self._catch_up = CatchUpSchedule(state.bus)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from voltbill.services.invoice_documents import RenderProcess
        from voltbill.services.invoice_runs import run_once

        renderer = RenderProcess()
        failures, busy = 0, False
        try:
            while not self._stop_event.wait(0 if busy else min(self.interval_s * 2**failures, self.MAX_PAUSE_S)):
                state = self._state()
                if state is None:
                    return
                try:
                    settings = state.settings
                    busy = run_once(
                        state.db, state.clock, settings.smtp_url, settings.smtp_timeout_s, self._catch_up, renderer
                    )
                    failures = 0
                except Exception:
                    if failures == 0:
                        log.exception("invoicing worker round failed; retrying with backoff")
                    failures, busy = min(failures + 1, 10), False
                del state
        finally:
            renderer.close()
