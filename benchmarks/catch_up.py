"""What the background workers' looks for waiting work cost as the history grows: the invoicing worker's documents
without PDF (every round, 5 s) and its settled sessions without invoice, the payments worker's priced CDRs without
settlement, and the operators' pending-work view. Each is timed (wall and this process's CPU) on a store holding N
settled, invoiced and rendered sessions (a 42 KB PDF each, as the shipped template renders) plus 10 of each kind
of waiting work, which the first look must find.

    .venv/bin/python benchmarks/catch_up.py --db sqlite,postgresql --history 1000,10000,50000

Run it against an older checkout of ``src/`` (``PYTHONPATH=/path/to/old/src``) for the figures before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_load import database, machine
from voltbill.adapters.payments.sandbox import SandboxGateway
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.invoices import InvoiceCdrRow, InvoiceDocumentRow, InvoiceRow
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.adapters.store.tables.registry import ChargePoint, Driver, Location
from voltbill.adapters.store.tables.sessions import CdrRow, SessionRow
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.services.access import ensure_operator
from voltbill.services.events import EventBus
from voltbill.services.invoice_documents import rows_without_pdf
from voltbill.services.invoice_runs import catch_up
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payment_events import settle_unsettled
from voltbill.services.pending import pending_work

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WAITING = 10
CHUNK = 2_000
PDF = os.urandom(42_000)


def seed(db: Database, history: int) -> None:
    """``history`` sessions settled by wallet, invoiced and rendered; ``WAITING`` more of each kind of waiting work:
    priced but unsettled, settled but not invoiced, invoiced but not rendered."""
    with db.uow() as uow:
        ensure_operator(uow, "default", clock=FixedClock(T0))
        s = uow.session
        s.add(Location(id="L", operator_id="default", name="Depot", address="Kai 1", city="Berlin", country="DEU",
                       latitude="52.5", longitude="13.4", time_zone="Europe/Berlin", updated_at=T0))  # fmt: skip
        s.flush()
        s.add(ChargePoint(id="CP", operator_id="default", location_id="L", created_at=T0, updated_at=T0))
        s.add(Driver(id="D", operator_id="default", name="Ana", email="ana@example.com", payment_method="wallet",
                     created_at=T0, updated_at=T0))  # fmt: skip
        uow.commit()
    total = history + 3 * WAITING
    pdf_pending = "pdf_pending" in InvoiceRow.__table__.c  # not in checkouts from before migration 0009
    document = {"lines": [{"description": "Charging", "quantity": "12.5", "unit": "kWh"}] * 8, "notes": "x" * 400}
    for first in range(0, total, CHUNK):
        n_range = range(first, min(first + CHUNK, total))
        rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (SessionRow, CdrRow, Payment, InvoiceRow)}
        links, pdfs = [], []
        for n in n_range:
            at = T0 + timedelta(minutes=n)
            sid, cdr = f"S{n:07d}", f"C{n:07d}"
            rows[SessionRow].append(dict(id=sid, charge_point_id="CP", transaction_id=sid, protocol="ocpp1.6",
                                         evse_id=1, connector_id=1, driver_id="D", status="completed",
                                         start_date_time=at, end_date_time=at, kwh="12.5", cdr_id=cdr,
                                         last_seen_at=at, flags=[], created_at=at))  # fmt: skip
            rows[CdrRow].append(dict(id=cdr, session_id=sid, charge_point_id="CP", driver_id="D", currency="EUR",
                                     total_excl_vat="4.20", total_incl_vat="5.00", priced=True, end_date_time=at,
                                     data=cdr_data(cdr, sid, at), created_at=at))  # fmt: skip
            if not history <= n < history + WAITING:  # the first WAITING beyond the history stay unsettled
                rows[Payment].append(dict(id=f"P{n:07d}", kind="session", driver_id="D", session_id=sid, cdr_id=cdr,
                                          payment_method="wallet", currency="EUR", amount="5.00",
                                          captured_amount="5.00", refunded_amount="0", status="paid", attempts=0,
                                          created_at=at, updated_at=at))  # fmt: skip
            if n < history or n >= history + 2 * WAITING:  # the next WAITING stay without invoice
                invoice = dict(id=n + 1, operator_id="default", number=f"VB-2026-{n + 1:07d}", series="VB-2026",
                               sequence=n + 1, kind="invoice", status="issued", driver_id="D", currency="EUR",
                               source_key=f"k{n}", gross_total="5.00", document=document, locale="en",
                               parties={"seller": {}, "buyer": {}}, issued_at=at, created_at=at)  # fmt: skip
                if pdf_pending:
                    invoice["pdf_pending"] = n >= history  # the last WAITING are not rendered
                rows[InvoiceRow].append(invoice)
                links.append(dict(cdr_id=cdr, invoice_id=n + 1))
                if n < history:
                    pdfs.append(dict(invoice_id=n + 1, pdf=PDF, rendered_at=at))
        with db.uow() as uow:
            for table, values in rows.items():
                if values:
                    uow.session.execute(table.__table__.insert(), values)
            for table, values in ((InvoiceCdrRow, links), (InvoiceDocumentRow, pdfs)):
                if values:
                    uow.session.execute(table.__table__.insert(), values)
            uow.commit()
    if db.engine.dialect.name == "postgresql":  # the ids were given: the next invoice's id comes after them
        with db.uow() as uow:
            uow.session.execute(text("SELECT setval(pg_get_serial_sequence('invoices', 'id'), max(id)) FROM invoices"))
            uow.commit()


def cdr_data(cdr_id: str, session_id: str, end: datetime) -> dict[str, Any]:
    """A priced OCPI CDR with what an invoice line needs."""
    start, stop = ((at.isoformat().replace("+00:00", "Z")) for at in (end - timedelta(hours=1), end))
    price = {"excl_vat": "4.20", "incl_vat": "5.00"}
    return {"id": cdr_id, "session_id": session_id, "currency": "EUR", "start_date_time": start, "end_date_time": stop,
            "total_energy": "12.5", "total_energy_cost": price, "total_cost": price}  # fmt: skip


def timed(fn: Callable[[], Any], repeat: int = 5) -> dict[str, Any]:
    """Median wall and CPU milliseconds of ``fn`` over ``repeat`` runs, and what its first run found. The first run
    does the waiting work it finds (settles, invoices); the timed ones find none left: the cost of the look itself,
    what a worker pays every round once it has caught up."""
    result = fn()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"wall_ms": round(sorted(walls)[repeat // 2], 2), "cpu_ms": round(sorted(cpus)[repeat // 2], 2),
            "found": result}  # fmt: skip


def run(kind: str, history: int) -> dict[str, Any]:
    with database(kind) as url:
        migrate(url)
        db = Database(url)
        started = time.monotonic()
        seed(db, history)
        seeded_s = round(time.monotonic() - started, 1)
        clock = FixedClock(T0 + timedelta(days=400))

        def documents_without_pdf() -> int:
            with db.uow() as uow:
                return len(rows_without_pdf(uow, 100))

        ctx = PaymentsContext(db, SandboxGateway(), EventBus(), clock, PaymentSettings(payment_gateway="sandbox"))

        def pending() -> int:
            with db.uow() as uow:
                return sum(item.count for item in pending_work(uow))

        figures = {
            "history": history,
            "seeded_s": seeded_s,
            "documents_without_pdf": timed(documents_without_pdf),
            "sessions_without_invoice": timed(lambda: catch_up(db, clock)),
            "cdrs_without_settlement": timed(lambda: settle_unsettled(ctx)),
            "pending_work": timed(pending),
        }
        db.dispose()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--history", default="1000,10000,50000")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "date": datetime.now(UTC).isoformat(timespec="seconds")}
    for kind in args.db.split(","):
        results[kind] = []
        for history in (int(h) for h in args.history.split(",")):
            results[kind].append(run(kind, history))
            print(f"[{kind}] {json.dumps(results[kind][-1])}", file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
