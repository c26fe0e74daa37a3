"""CPU per write-behind batch of MeterValues against chargers with a long history: what one ``record_batch`` (the
gateway's batch writer, one transaction for the readings of many chargers) costs when each charger already has
``--history`` completed sessions.

A SQLite file (or a throw-away PostgreSQL database) gets ``--chargers`` charge points, each with ``--history``
completed sessions (inserted as rows, not charged) and one active session. Then ``--batches`` batches are written,
each one MeterValues (energy register, power, current, SoC) of every charger's active session, as the gateway
writes a minute of readings. Figures are CPU milliseconds of this process per batch (``time.process_time``), so
other processes on the box do not count against them, and wall-clock milliseconds per batch (which on PostgreSQL
include the database server's work).

    .venv/bin/python benchmarks/meter_batch.py --db sqlite,postgresql --history 1,100,1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_load import database, machine
from session_pricing import T0, minute_of_readings, register_charge_points, start_sessions
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.sessions import SessionRow
from voltbill.domain.clock import FixedClock
from voltbill.services import charging
from voltbill.services.charging import ChargingContext
from voltbill.services.events import EventBus

TX = "tx-now"


def seed(db: Database, ctx: ChargingContext, chargers: int, history: int) -> list[str]:
    """Charge points with ``history`` completed sessions and one active session each."""
    cps = [f"MB{n:05d}" for n in range(chargers)]
    register_charge_points(db, cps, FixedClock(T0 - timedelta(days=400)))
    for first in range(0, history, 50):
        rows = []
        for cp in cps:
            for k in range(first, min(first + 50, history)):
                began = T0 - timedelta(hours=3 * (history - k))
                rows.append(
                    {
                        "id": f"{cp}-{k}",
                        "charge_point_id": cp,
                        "transaction_id": f"tx-{k}",
                        "protocol": "ocpp2.0.1",
                        "evse_id": 1,
                        "connector_id": 1,
                        "status": "completed",
                        "start_date_time": began,
                        "end_date_time": began + timedelta(hours=2),
                        "last_seen_at": began + timedelta(hours=2),
                        "flags": [],
                        "created_at": began,
                    }
                )
        with db.uow() as uow:
            uow.session.execute(SessionRow.__table__.insert(), rows)
            uow.commit()
    start_sessions(db, ctx, cps, TX)
    return cps


def run(kind: str, history: int, args: argparse.Namespace) -> dict[str, Any]:
    with database(kind) as url:
        migrate(url)
        db = Database(url)
        try:
            ctx = ChargingContext(bus=EventBus(), clock=FixedClock(T0 + timedelta(days=1)))
            started = time.monotonic()
            cps = seed(db, ctx, args.chargers, history)
            seeded = round(time.monotonic() - started, 1)
            batches = [minute_of_readings(cps, TX, minute) for minute in range(1, args.batches + 2)]
            with db.uow() as uow:  # warm-up: statement caches, pages
                charging.record_batch(uow, ctx, batches[0])
            cpu, wall = time.process_time(), time.perf_counter()
            for updates in batches[1:]:
                with db.uow() as uow:
                    charging.record_batch(uow, ctx, updates)
            per_batch = 1000 * (time.process_time() - cpu) / args.batches
            wall_per_batch = 1000 * (time.perf_counter() - wall) / args.batches
        finally:
            db.dispose()
    return {
        "chargers": args.chargers,
        "past_sessions_per_charger": history,
        "seed_s": seeded,
        "batches": args.batches,
        "batch_cpu_ms": round(per_batch, 2),
        "update_cpu_us": round(1000 * per_batch / args.chargers, 1),
        "batch_wall_ms": round(wall_per_batch, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--chargers", type=int, default=200, help="chargers in a batch")
    parser.add_argument("--history", default="1,100,1000", help="completed sessions per charger (comma-separated)")
    parser.add_argument("--batches", type=int, default=30, help="batches measured")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for kind in args.db.split(","):
        results[kind] = []
        for history in (int(h) for h in args.history.split(",")):
            results[kind].append(run(kind, history, args))
            print(f"[{kind}] {json.dumps(results[kind][-1])}", file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
