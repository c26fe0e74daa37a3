"""Issuing on SQLite and PostgreSQL: gap-free numbers under concurrency, idempotency, credit notes, voiding."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from invoice_cdrs import make_cdr
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.invoices import InvoiceDocumentRow
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import Conflict
from voltbill.domain.invoices import Invoice, session_invoice
from voltbill.services.invoice_documents import render_pending, rows_without_pdf
from voltbill.services.invoicing import (
    IssuedInvoice,
    credit_invoice,
    get_invoice,
    issue,
    list_invoices,
    set_branding,
    void_invoice,
)
from voltbill.services.outbox import outbox_counts

CLOCK = FixedClock(datetime(2026, 10, 5, 12, 0, tzinfo=UTC))
BUYER = {"name": "Erika Mustermann", "email": "erika@example.com", "lines": ["Musterweg 2"], "country": "DE"}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


def draft(cdr_id: str, excl: str = "4.6026") -> Invoice:
    return session_invoice(make_cdr(cdr_id, "EUR", {"ENERGY": (excl, "19")}), operator_id="op1", driver_id="d1")


def issue_one(db: Database, cdr_id: str, email: str | None = None) -> IssuedInvoice:
    with db.uow() as uow:
        return issue(
            uow, draft(cdr_id), source_key=f"k-{cdr_id}", buyer=BUYER, locale="de", clock=CLOCK, email_to=email
        )


def test_issued_invoices_get_consecutive_numbers_and_a_replay_returns_the_first(db: Database) -> None:
    first, second = issue_one(db, "c1"), issue_one(db, "c2")
    replay = issue_one(db, "c1")
    assert (first.invoice.number, second.invoice.number) == ("VB-2026-000001", "VB-2026-000002")
    assert (replay.created, replay.id, replay.invoice.number) == (False, first.id, "VB-2026-000001")
    assert issue_one(db, "c3").invoice.number == "VB-2026-000003"  # the replay consumed no number
    with db.uow() as uow:
        stored = get_invoice(uow, "op1", "VB-2026-000001")
    assert (stored.status, stored.gross_total, stored.cdr_ids) == ("issued", Decimal("5.48"), ("c1",))


def test_twenty_concurrent_issuers_get_exactly_the_numbers_one_to_twenty(db: Database) -> None:
    barrier = threading.Barrier(20)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issuer(n: int) -> None:
        try:
            barrier.wait()
            numbers.append(str(issue_one(db, f"cdr-{n}").invoice.number))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=issuer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 21))


def test_concurrent_issuing_of_the_same_session_makes_one_invoice(db: Database) -> None:
    barrier = threading.Barrier(8)
    results: list[IssuedInvoice] = []

    def issuer() -> None:
        barrier.wait()
        results.append(issue_one(db, "same"))

    threads = [threading.Thread(target=issuer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.invoice.number for r in results} == {"VB-2026-000001"}
    assert sum(r.created for r in results) == 1
    assert issue_one(db, "next").invoice.number == "VB-2026-000002"


def test_a_cdr_already_on_an_invoice_is_refused_by_name(db: Database) -> None:
    issue_one(db, "c1")
    with db.uow() as uow, pytest.raises(Conflict) as refused:
        issue(uow, draft("c1"), source_key="another-key", buyer=BUYER, locale="en", clock=CLOCK)
    assert refused.value.code == "cdr_already_invoiced"


def test_credit_note_has_its_own_series_and_the_original_cannot_be_credited_twice(db: Database) -> None:
    original = issue_one(db, "c1")
    with db.uow() as uow:
        credit = credit_invoice(uow, "op1", "VB-2026-000001", clock=CLOCK)
    assert (credit.invoice.number, credit.invoice.credits, credit.invoice.gross_total) == (
        "VBC-2026-000001",
        "VB-2026-000001",
        -original.invoice.gross_total,
    )
    with db.uow() as uow:
        assert get_invoice(uow, "op1", "VB-2026-000001").status == "credited"
        for number in ("VB-2026-000001", "VBC-2026-000001"):
            with pytest.raises(Conflict) as refused:
                credit_invoice(uow, "op1", number, clock=CLOCK)
            assert refused.value.code == "invoice_not_creditable"


def test_void_keeps_the_number_and_is_refused_once_the_invoice_was_sent(db: Database) -> None:
    issue_one(db, "c1", email="erika@example.com")
    with db.uow() as uow:
        voided = void_invoice(uow, "op1", "VB-2026-000001")
        assert (voided.number, voided.status) == ("VB-2026-000001", "void")
        assert outbox_counts(uow) == {"cancelled": 1}
        with pytest.raises(Conflict) as refused:
            void_invoice(uow, "op1", "VB-2026-000001")
    assert refused.value.code == "invoice_not_voidable"
    assert issue_one(db, "c2").invoice.number == "VB-2026-000002"  # numbers are never reused


def test_the_operator_prefix_names_the_series_and_lists_are_newest_first(db: Database) -> None:
    with db.uow() as uow:
        set_branding(uow, "op1", {"invoice_prefix": "STROM", "legal_name": "Strom GmbH"}, clock=CLOCK)
    issue_one(db, "c1")
    issue_one(db, "c2")
    with db.uow() as uow:
        page, after = list_invoices(uow, "op1", limit=1)
        rest, end = list_invoices(uow, "op1", limit=1, after=after)
    assert [i.number for i in page + rest] == ["STROM-2026-000002", "STROM-2026-000001"]
    assert end is None


def test_rendered_pdfs_are_stored_by_one_statement_whatever_the_batch_size(db: Database) -> None:
    # SQLite keeps the values last bound to each statement it caches: one multi-row INSERT text per batch size kept
    # that many PDFs per size on every pooled connection, memory that grew with the sizes seen.
    for n in range(7):
        issue_one(db, f"CDR-PDF-{n}")
    inserts: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INVOICE_DOCUMENTS"):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert [render_pending(db, CLOCK, limit=size) for size in (1, 2, 4, 4)] == [1, 2, 4, 0]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(inserts) == 3 and len(set(inserts)) == 1
    with db.uow() as uow:
        assert rows_without_pdf(uow, 100) == []
        assert uow.session.scalar(select(func.count()).select_from(InvoiceDocumentRow)) == 7
