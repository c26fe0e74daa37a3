"""Month-end invoicing benchmark: issue N invoices (gap-free numbers, one transaction each), then render every PDF
with its embedded Factur-X XML, and report invoices per second.

    .venv/bin/python benchmarks/invoices.py                      # 10,000 invoices, SQLite, all cores
    .venv/bin/python benchmarks/invoices.py --count 2000 --processes 1
    .venv/bin/python benchmarks/invoices.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The CDRs are synthetic but realistic (flat fee, energy, charging time, parking; two VAT rates; two languages).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.invoices import InvoiceRow
from voltbill.domain.clock import FixedClock
from voltbill.domain.invoices import session_invoice
from voltbill.domain.rounding import cdr_amount
from voltbill.services.invoice_documents import RenderJob, render_pending
from voltbill.services.invoicing import issue, set_branding

MONTH_END = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def synthetic_cdr(n: int, rng: random.Random) -> dict[str, Any]:
    start = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
    hours = Decimal(rng.randrange(600, 14_400)) / 3600
    kwh = Decimal(rng.randrange(2_000, 80_000)) / 1000
    parking = Decimal(rng.choice([0, 0, 900, 1800])) / 3600
    vat = rng.choice([Decimal(19), Decimal(21)])
    parts = {
        "total_fixed_cost": Decimal("0.50"),
        "total_energy_cost": cdr_amount(kwh * Decimal("0.39")),
        "total_time_cost": cdr_amount((hours - parking) * Decimal("0.60")),
        "total_parking_cost": cdr_amount(parking * Decimal("6.00")),
    }
    cdr: dict[str, Any] = {
        "id": f"CDR{n:07d}",
        "currency": "EUR",
        "start_date_time": start.isoformat(),
        "end_date_time": (start + timedelta(hours=float(hours))).isoformat(),
        "cdr_location": {"name": f"Station {n % 97}", "address": "Kade 1", "city": "Amsterdam", "country": "NLD"},
        "total_energy": str(kwh),
        "total_time": str(hours.quantize(Decimal("0.0001"))),
        "total_parking_time": str(parking.quantize(Decimal("0.0001"))),
        "tariffs": [
            {
                "id": "AC-STANDARD",
                "currency": "EUR",
                "elements": [
                    {
                        "price_components": [
                            {"type": "FLAT", "price": "0.50", "vat": str(vat), "step_size": 1},
                            {"type": "ENERGY", "price": "0.39", "vat": str(vat), "step_size": 1},
                            {"type": "TIME", "price": "0.60", "vat": str(vat), "step_size": 60},
                            {"type": "PARKING_TIME", "price": "6.00", "vat": str(vat), "step_size": 60},
                        ]
                    }
                ],
            }
        ],
    }
    excl = sum(parts.values(), Decimal(0))
    for key, amount in parts.items():
        cdr[key] = {"excl_vat": str(amount), "incl_vat": str(cdr_amount(amount * (1 + vat / 100)))}
    cdr["total_cost"] = {"excl_vat": str(excl), "incl_vat": str(cdr_amount(excl * (1 + vat / 100)))}
    return cdr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--sample", type=int, default=100, help="invoices rendered again to measure CPU time")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='voltbill-bench-')}/bench.db"
    migrate(url)
    db = Database(url)
    clock = FixedClock(MONTH_END)
    rng = random.Random(20261031)
    with db.uow() as uow:
        set_branding(
            uow,
            "bench",
            {"legal_name": "Harbour Charging BV", "address": ["Kade 1", "1011 AB Amsterdam"], "country": "NL",
             "vat_id": "NL123456789B01", "footer": "Harbour Charging BV · KvK 12345678"},
            clock=clock,
        )  # fmt: skip
    cdrs = [synthetic_cdr(n, rng) for n in range(args.count)]

    started, issued_cpu = time.perf_counter(), time.process_time()
    for n, cdr in enumerate(cdrs):
        draft = session_invoice(cdr, operator_id="bench", driver_id=f"driver-{n % 2500}", time_zone="Europe/Amsterdam")
        buyer = {"name": f"Driver {n % 2500}", "lines": ["Dorpsstraat 1", "1234 AB Ergens"], "country": "NL"}
        with db.uow() as uow:
            issue(uow, draft, source_key=cdr["id"], buyer=buyer, locale=("de" if n % 3 else "en"), clock=clock)
    issued_s, issued_cpu = time.perf_counter() - started, time.process_time() - issued_cpu

    started = time.perf_counter()
    rendered = render_pending(db, clock, limit=args.count, processes=args.processes)
    render_s = time.perf_counter() - started
    total_s = issued_s + render_s
    dialect = db.engine.dialect.name
    # CPU time per invoice on one core (time.process_time), so other load on the machine does not count.
    with db.uow() as uow:
        sample = [RenderJob.of(row, None, None) for row in uow.session.scalars(select(InvoiceRow).limit(args.sample))]
    cpu = time.process_time()
    for job in sample:
        job.render()
    render_cpu = (time.process_time() - cpu) / len(sample)
    issue_cpu = issued_cpu / args.count
    db.dispose()
    print(f"database            {dialect}, {os.cpu_count()} cores, {args.processes} rendering processes")
    print(f"issued              {args.count} invoices in {issued_s:.1f} s ({args.count / issued_s:.0f}/s)")
    print(f"rendered            {rendered} PDFs + Factur-X in {render_s:.1f} s ({rendered / render_s:.1f}/s)")
    print(f"month-end run       {args.count / total_s:.1f} invoices/s end to end ({total_s:.1f} s)")
    print(f"load average        {os.getloadavg()[0]:.1f} (other processes on the machine)")
    cores = os.cpu_count() or 1
    print(
        f"CPU per invoice     issue {issue_cpu * 1000:.1f} ms + PDF/Factur-X {render_cpu * 1000:.1f} ms "
        f"-> {cores / (issue_cpu + render_cpu):.0f} invoices/s on {cores} idle cores"
    )


if __name__ == "__main__":
    main()
