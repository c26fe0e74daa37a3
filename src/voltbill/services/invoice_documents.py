"""Invoice PDFs: render once from the stored invoice (its own seller/buyer snapshot), keep, serve from the store.

``render_pending`` renders in batches and can fan out over processes: Typst and Factur-X are CPU-bound, the
database work stays in the calling process. The server renders in one process of its own (``RenderProcess``).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.documents.branding import branding_from
from voltbill.adapters.documents.pdf import render_pdf
from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.adapters.store.tables.invoices import InvoiceDocumentRow, InvoiceRow
from voltbill.domain.clock import Clock
from voltbill.domain.invoice_json import invoice_from_json
from voltbill.services.invoicing import find_row, get_branding

Progress = Callable[[int], None]
STORE_BATCH = 50


@dataclass(frozen=True, slots=True)
class RenderJob:
    """Everything needed to render one stored invoice, as plain data (it crosses process boundaries)."""

    invoice_id: int
    document: dict[str, Any]
    status: str
    parties: dict[str, Any]
    locale: str
    logo: bytes | None
    logo_type: str | None

    @classmethod
    def of(cls, row: InvoiceRow, logo: bytes | None, logo_type: str | None) -> RenderJob:
        return cls(row.id, dict(row.document), row.status, dict(row.parties), row.locale, logo, logo_type)

    def render(self) -> bytes:
        """The PDF, from the invoice's own snapshot of seller and buyer."""
        invoice = invoice_from_json({**self.document, "status": self.status})
        seller = branding_from(dict(self.parties["seller"]))
        buyer = self.parties.get("buyer") or {}
        return render_pdf(invoice, seller, buyer, self.locale, logo=self.logo, logo_type=self.logo_type)


def pdf_for(db: Database, operator_id: str, number: str, *, clock: Clock) -> bytes:
    """The invoice's PDF: rendered once, stored, and served from the store afterwards."""
    with db.uow() as uow:
        row = find_row(uow, operator_id, number)
        stored = uow.session.get(InvoiceDocumentRow, row.id)
        if stored is not None:
            return stored.pdf
        _, logo, kind = get_branding(uow, operator_id)
        uow.session.expunge(row)  # rendering happens outside the transaction
    return store_pdf(db, row.id, RenderJob.of(row, logo, kind).render(), clock=clock)


def store_pdf(db: Database, invoice_id: int, pdf: bytes, *, clock: Clock) -> bytes:
    """Keep the first rendering of an invoice (a concurrent renderer's copy is discarded); returns the stored PDF."""
    with db.uow() as uow:
        uow.session.add(InvoiceDocumentRow(invoice_id=invoice_id, pdf=pdf, rendered_at=clock.now()))
        try:
            _rendered(uow, [invoice_id])  # flushes the document first: a concurrent copy fails here
            uow.commit()
            return pdf
        except IntegrityError:
            uow.rollback()
            stored = uow.session.get(InvoiceDocumentRow, invoice_id)
            return stored.pdf if stored is not None else pdf


def rows_without_pdf(uow: UnitOfWork, limit: int) -> list[InvoiceRow]:
    """Issued documents whose PDF has not been rendered yet, oldest first (the ``pdf_pending`` index: as many
    rows read as are waiting, however many invoices were issued before)."""
    stmt = select(InvoiceRow).where(InvoiceRow.pdf_pending == true())
    return list(uow.session.scalars(stmt.order_by(InvoiceRow.id).limit(limit)))


def _rendered(uow: UnitOfWork, invoice_ids: list[int]) -> None:
    """Clear ``pdf_pending`` of invoices whose PDF this transaction stores."""
    uow.session.execute(update(InvoiceRow), [{"id": i, "pdf_pending": False} for i in invoice_ids])


def _render(job: RenderJob) -> tuple[int, bytes]:
    return job.invoice_id, job.render()


def render_pending(
    db: Database,
    clock: Clock,
    *,
    limit: int = 1000,
    processes: int = 1,
    renderer: RenderProcess | None = None,
    progress: Progress | None = None,
) -> int:
    """Render and store the PDFs of up to ``limit`` issued documents that have none yet; returns how many.

    They are rendered in ``renderer`` when given, in ``processes`` new processes when more than one (Typst and
    Factur-X are CPU-bound; this process keeps the database work), in this thread otherwise."""
    with db.uow() as uow:
        rows = rows_without_pdf(uow, limit)
        logos = {op: get_branding(uow, op)[1:] for op in {r.operator_id for r in rows}}
        jobs = [RenderJob.of(row, *logos[row.operator_id]) for row in rows]
    if renderer is not None and jobs:
        _store_all(db, clock, renderer.results(jobs), progress)
    elif processes > 1 and len(jobs) > 1:
        with _pool(processes) as pool:
            _store_all(db, clock, pool.map(_render, jobs, chunksize=8), progress)
    else:
        _store_all(db, clock, map(_render, jobs), progress)
    return len(jobs)


class RenderProcess:
    """One process that renders PDFs for a long-running server: started at the first job, started again after it
    died, ended with the server.

    Rendering an invoice costs about 19 ms of CPU, half of it pure Python (the Factur-X XML and PDF/A-3 assembly)
    holding the GIL. In the server's own process that time was taken from the event loop that answers the chargers:
    at 5,000 chargers, a third paying by card and a third by wallet (invoiced at each session's end), the answers'
    p99 was 200 ms and 668 PDFs were still waiting at the end; rendered here, 75 ms and none (benchmarks/soak.py)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def results(self, jobs: list[RenderJob]) -> Iterator[tuple[int, bytes]]:
        """(invoice id, PDF) of each job, in order; raises what a rendering raised."""
        with self._lock:
            if self._pool is None:
                self._pool = _pool(1)
            pool = self._pool
        try:
            yield from pool.map(_render, jobs, chunksize=8)
        except BrokenProcessPool:  # the process died (killed, out of memory): the next batch starts another
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise

    def close(self) -> None:
        """End the process (a batch being rendered is abandoned; its invoices stay pending)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _pool(processes: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked child would inherit the parent's Typst compiler without its worker threads.
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def _store_all(db: Database, clock: Clock, results: Iterable[tuple[int, bytes]], progress: Progress | None) -> None:
    """Store rendered PDFs in batches of ``STORE_BATCH`` per transaction (a PDF already stored is kept)."""
    batch: list[tuple[int, bytes]] = []
    for result in results:
        batch.append(result)
        if len(batch) >= STORE_BATCH:
            _store_batch(db, clock, batch, progress)
            batch = []
    if batch:
        _store_batch(db, clock, batch, progress)


def _store_batch(db: Database, clock: Clock, batch: list[tuple[int, bytes]], progress: Progress | None) -> None:
    now = clock.now()
    with db.uow() as uow:
        dialect = postgresql if uow.is_postgres else sqlite
        rows = [{"invoice_id": i, "pdf": pdf, "rendered_at": now} for i, pdf in batch]
        # One row per execution of one statement, not one multi-row INSERT per batch size: SQLite keeps the values
        # last bound to each statement it has cached, so every size seen kept its last batch of PDFs on every pooled
        # connection (SQLite's memory grew by ~4.5 MiB a minute in benchmarks/soak.py).
        uow.session.execute(dialect.insert(InvoiceDocumentRow.__table__).on_conflict_do_nothing(), rows)
        _rendered(uow, [i for i, _ in batch])
        uow.commit()
    if progress is not None:
        progress(len(batch))
