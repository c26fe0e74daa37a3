"""Invoice e-mail through a real SMTP server (aiosmtpd): one message per invoice with its PDF, never twice; a
server that is down leaves the e-mail queued until it is back."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from invoice_cdrs import make_cdr
from live_servers import free_port
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.domain.invoices import session_invoice
from voltbill.services.invoicing import issue
from voltbill.services.outbox import outbox_counts, process_outbox, resend


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


def issue_with_email(db: Database, clock: Clock, cdr_id: str, to: str) -> str:
    draft = session_invoice(make_cdr(cdr_id, "EUR", {"ENERGY": ("4.60", "19")}), operator_id="op1", driver_id="d1")
    with db.uow() as uow:
        issued = issue(
            uow, draft, source_key=cdr_id, buyer={"name": "E", "email": to}, locale="de", clock=clock, email_to=to
        )
    return str(issued.invoice.number)


def test_each_invoice_is_mailed_once_with_its_pdf(db: Database, smtp: tuple[Inbox, str]) -> None:
    inbox, url = smtp
    clock = Clock()
    numbers = [issue_with_email(db, clock, f"c{n}", f"driver{n}@example.com") for n in range(3)]
    assert process_outbox(db, clock, url, timeout_s=5).sent == 3
    assert process_outbox(db, clock, url, timeout_s=5).sent == 0  # nothing is sent twice
    assert len(inbox.messages) == 3
    by_id = {m["Message-ID"]: m for m in inbox.messages}
    assert sorted(by_id) == sorted(f"<{n}.op1@invoices.voltbill>" for n in numbers)
    for number, n in zip(numbers, range(3), strict=True):
        message = by_id[f"<{number}.op1@invoices.voltbill>"]
        assert message["To"] == f"driver{n}@example.com" and number in message["Subject"]
        (attachment,) = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
        assert attachment.get_filename() == f"{number}.pdf"
        assert attachment.get_payload(decode=True).startswith(b"%PDF")
    with db.uow() as uow:
        assert outbox_counts(uow) == {"sent": 3}


def test_smtp_down_keeps_the_email_queued_and_sends_it_when_the_server_is_back(db: Database) -> None:
    clock = Clock()
    port = free_port()
    url = f"smtp://127.0.0.1:{port}"
    number = issue_with_email(db, clock, "c1", "erika@example.com")
    run = process_outbox(db, clock, url, timeout_s=5)
    assert (run.sent, run.failed) == (0, 1)
    with db.uow() as uow:
        assert outbox_counts(uow) == {"pending": 1}
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert process_outbox(db, clock, url, timeout_s=5).sent == 0  # backing off
        clock.at += timedelta(seconds=31)
        assert process_outbox(db, clock, url, timeout_s=5).sent == 1
        clock.at += timedelta(hours=2)
        assert process_outbox(db, clock, url, timeout_s=5).sent == 0
    finally:
        controller.stop()
    assert [m["Message-ID"] for m in inbox.messages] == [f"<{number}.op1@invoices.voltbill>"]


def test_resend_sends_a_sent_invoice_again_as_a_new_message(db: Database, smtp: tuple[Inbox, str]) -> None:
    inbox, url = smtp
    clock = Clock()
    number = issue_with_email(db, clock, "c1", "erika@example.com")
    process_outbox(db, clock, url, timeout_s=5)
    with db.uow() as uow:
        message_id = resend(uow, "op1", number, clock=clock)
    assert process_outbox(db, clock, url, timeout_s=5).sent == 1
    assert [m["Message-ID"] for m in inbox.messages] == [f"<{number}.op1@invoices.voltbill>", message_id]
