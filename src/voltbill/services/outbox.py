"""The durable e-mail outbox: each issued invoice is queued in its issuing transaction and sent from here.

Sending claims a row with one conditional UPDATE (a lease: ``next_attempt_at`` moves past the send, see
``claim_lease``), talks SMTP without holding any database lock, then records the SMTP acceptance (``status = sent``)
at once. A failure books the error and the next attempt (exponential backoff); after ``MAX_ATTEMPTS`` the row is
``failed`` and waits for ``voltbill invoices resend``. The Message-ID comes from the invoice number, so even a retry
after a crash between the SMTP answer and that commit is the same message to the receiving mail system.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, select, update

from voltbill.adapters.documents.email import invoice_message, send, smtp_target
from voltbill.adapters.documents.labels import babel_locale, labels_for
from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.adapters.store.tables.invoices import InvoiceOutboxRow, InvoiceRow
from voltbill.domain.clock import Clock
from voltbill.domain.errors import NotFound

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10


def claim_lease(timeout_s: float) -> timedelta:
    """How long a claimed e-mail is left to the sender that claimed it: eight SMTP timeouts (2 minutes with the
    default ``VOLTBILL_SMTP_TIMEOUT_S``).

    A send is a connection and a few commands (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the message), each bounded by
    the timeout; only a mail server stalling close to the timeout at nearly every step makes one last longer. A
    sender that died mid-send (kill -9) leaves its claim behind; the next round takes the e-mail up once the lease has
    passed, and it goes out with the same Message-ID."""
    return timedelta(seconds=8 * timeout_s)


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 30 s, 1 min, 2 min, ... at most 1 hour."""
    return min(timedelta(seconds=30) * 2 ** max(attempts - 1, 0), timedelta(hours=1))


def message_id_for(number: str, operator_id: str, resend: int = 0) -> str:
    suffix = f".resend{resend}" if resend else ""
    return f"<{number}{suffix}.{operator_id}@invoices.voltbill>"


def enqueue_email(uow: UnitOfWork, row: InvoiceRow, to: str, now: datetime, resend: int = 0) -> InvoiceOutboxRow:
    """Queue the e-mail of an issued invoice in the caller's transaction."""
    assert row.number is not None
    entry = InvoiceOutboxRow(
        invoice_id=row.id,
        to_address=to,
        message_id=message_id_for(row.number, row.operator_id, resend),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    uow.session.add(entry)
    return entry


def was_sent(uow: UnitOfWork, invoice_id: int) -> bool:
    stmt = select(InvoiceOutboxRow.id).where(
        InvoiceOutboxRow.invoice_id == invoice_id, InvoiceOutboxRow.status == "sent"
    )
    return uow.session.scalars(stmt).first() is not None


def cancel_unsent(uow: UnitOfWork, invoice_id: int) -> None:
    uow.session.execute(
        update(InvoiceOutboxRow)
        .where(InvoiceOutboxRow.invoice_id == invoice_id, InvoiceOutboxRow.status.in_(("pending", "failed")))
        .values(status="cancelled")
    )


def resend(uow: UnitOfWork, operator_id: str, number: str, *, clock: Clock, to: str | None = None) -> str:
    """Send invoice ``number`` (again): a waiting or failed e-mail is retried now; a sent one is sent once more as a
    new message. Returns the Message-ID; commits."""
    row = uow.session.scalars(
        select(InvoiceRow).where(InvoiceRow.operator_id == operator_id, InvoiceRow.number == number)
    ).first()
    if row is None or row.number is None:
        raise NotFound(f"invoice {number} does not exist", code="invoice_not_found", field="number")
    now = clock.now()
    entries = list(uow.session.scalars(select(InvoiceOutboxRow).where(InvoiceOutboxRow.invoice_id == row.id)))
    waiting = [e for e in entries if e.status in ("pending", "failed")]
    if waiting and to is None:
        entry = waiting[0]
        entry.status, entry.attempts, entry.next_attempt_at, entry.last_error = "pending", 0, now, None
    else:
        address = (
            to or (dict(row.parties).get("buyer") or {}).get("email") or (entries[0].to_address if entries else None)
        )
        if not address:
            raise NotFound(f"invoice {number} has no e-mail address; pass --to", code="no_email_address", field="to")
        entry = enqueue_email(uow, row, address, now, resend=len(entries))
    message_id = entry.message_id
    uow.commit()
    return message_id


def _claim(db: Database, entry_id: int, now: datetime, lease: timedelta) -> bool:
    with db.uow() as uow:
        claimed = uow.session.execute(
            update(InvoiceOutboxRow)
            .where(
                InvoiceOutboxRow.id == entry_id,
                InvoiceOutboxRow.status == "pending",
                InvoiceOutboxRow.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease, attempts=InvoiceOutboxRow.attempts + 1)
        ).rowcount
        uow.commit()
        return bool(claimed)


@dataclass(frozen=True, slots=True)
class OutboxRun:
    """One pass over the outbox: ``sent`` and ``failed`` attempts."""

    sent: int
    failed: int


def process_outbox(
    db: Database, clock: Clock, smtp_url: str | None, limit: int = 100, *, timeout_s: float
) -> OutboxRun:
    """Send the e-mails that are due, each SMTP step waiting at most ``timeout_s``. Without ``VOLTBILL_SMTP_URL``
    nothing is sent and everything stays queued."""
    if not smtp_url:
        return OutboxRun(0, 0)
    target = smtp_target(smtp_url)
    now = clock.now()
    with db.uow() as uow:
        due = list(
            uow.session.execute(
                select(InvoiceOutboxRow.id, InvoiceRow.operator_id, InvoiceRow.number)
                .join(InvoiceRow, InvoiceRow.id == InvoiceOutboxRow.invoice_id)
                .where(InvoiceOutboxRow.status == "pending", InvoiceOutboxRow.next_attempt_at <= now)
                .order_by(InvoiceOutboxRow.id)
                .limit(limit)
            )
        )
    sent = failed = 0
    for entry_id, operator_id, number in due:
        if not _claim(db, entry_id, now, claim_lease(timeout_s)):
            continue  # another worker has it
        try:
            message = _message(db, entry_id, operator_id, number, clock)
            send(target, message, timeout=timeout_s)
        except Exception as exc:
            failed += 1
            _record_failure(db, entry_id, exc, clock.now())
            continue
        with db.uow() as uow:  # the SMTP server accepted it: record that before anything else
            uow.session.execute(
                update(InvoiceOutboxRow)
                .where(InvoiceOutboxRow.id == entry_id)
                .values(status="sent", sent_at=clock.now(), last_error=None)
            )
            uow.commit()
        sent += 1
    return OutboxRun(sent, failed)


def _message(db: Database, entry_id: int, operator_id: str, number: str, clock: Clock) -> EmailMessage:
    from voltbill.services.invoicing import invoice_pdf

    pdf = invoice_pdf(db, operator_id, number, clock=clock)
    with db.uow() as uow:
        entry = uow.session.get(InvoiceOutboxRow, entry_id)
        row = uow.session.get(InvoiceRow, entry.invoice_id) if entry else None
        uow.session.expunge_all()
    assert entry is not None and row is not None
    labels = labels_for(babel_locale(row.locale))
    seller = dict(row.parties)["seller"]
    return invoice_message(
        sender=f"{seller['legal_name']} <{seller['email_from']}>",
        to=entry.to_address,
        subject=f"{labels[row.kind]} {number} – {seller['legal_name']}",
        body=f"{labels[row.kind]} {number}\n\n{seller.get('footer') or seller['legal_name']}\n",
        message_id=entry.message_id,
        sent_at=clock.now(),
        pdf=pdf,
        filename=f"{number}.pdf",
    )


def _record_failure(db: Database, entry_id: int, exc: Exception, now: datetime) -> None:
    with db.uow() as uow:
        entry = uow.session.get(InvoiceOutboxRow, entry_id)
        assert entry is not None
        entry.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if entry.attempts >= MAX_ATTEMPTS:
            entry.status = "failed"
        entry.next_attempt_at = now + backoff(entry.attempts)
        uow.commit()
    log.warning("invoice e-mail %s not sent (attempt will be retried): %s", entry_id, exc)


def outbox_counts(uow: UnitOfWork) -> dict[str, int]:
    """Outbox entries per status (for the CLI and health views)."""
    rows = uow.session.execute(select(InvoiceOutboxRow.status, func.count()).group_by(InvoiceOutboxRow.status))
    return {status: int(count) for status, count in rows}
