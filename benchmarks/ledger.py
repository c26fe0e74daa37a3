"""Ledger benchmark: settled sessions per second on SQLite and PostgreSQL.

Two modes, both the real use case: ``event`` settles one CDR per unit of work (``settle_priced_session``, what a
``session.priced`` event does: lock the wallet, derive its balance, post the balanced transfer, write the payment
row, commit); ``batch`` settles ``--batch`` CDRs per unit of work (``settle_priced_sessions``, what the catch-up job
does after an outage or under a burst). Drivers are spread over wallet, card and invoice; wallets are topped up
first. PostgreSQL runs several threads (one connection each); SQLite has a single writer, so one thread. Every
run ends by checking that the trial balance is balanced.

    .venv/bin/python benchmarks/ledger.py [--sessions 5000] [--threads 8] [--batch 100] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from voltbill.adapters.payments.sandbox import SandboxGateway
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.ledger_store import trial_balance_rows
from voltbill.adapters.store.migrate import migrate
from voltbill.config import PaymentSettings
from voltbill.domain.clock import FixedClock
from voltbill.domain.ledger import trial_balance
from voltbill.domain.money import Money
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.settlement import settle_priced_session, settle_priced_sessions
from voltbill.services.wallet import top_up_wallet

METHODS = ("wallet", "card", "invoice")
DRIVERS = 300


def run(url: str, sessions: int, threads: int, batch: int) -> float:
    migrate(url)
    db = Database(url, pool_size=threads, max_overflow=0)
    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    ctx = PaymentsContext(db, SandboxGateway(), EventBus(), clock, PaymentSettings(payment_gateway="sandbox"))
    for d in range(0, DRIVERS, len(METHODS)):
        top_up_wallet(ctx, f"drv{d}", Money.of("100000.00", "EUR"), f"seed{d}")

    def item(n: int) -> tuple[dict[str, Any], str]:
        d = n % DRIVERS
        event = {
            "session_id": f"s{n}",
            "cdr_id": f"cdr{n}",
            "driver_id": f"drv{d}",
            "currency": "EUR",
            "total_cost": {"excl_vat": "12.3456", "incl_vat": "14.6913"},
        }
        return event, METHODS[d % len(METHODS)]

    def settle(first: int) -> None:
        if batch == 1:
            settle_priced_session(ctx, *item(first))
        else:
            settle_priced_sessions(ctx, [item(n) for n in range(first, min(first + batch, sessions))])

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(settle, range(0, sessions, batch)))
    elapsed = time.perf_counter() - start
    with db.uow() as uow:
        assert trial_balance(trial_balance_rows(uow)).balanced
    db.dispose()
    return sessions / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8, help="PostgreSQL worker threads")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="admin DSN")
    parser.add_argument("--batch", type=int, default=100, help="CDRs per unit of work in batch mode")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"{args.sessions} settled sessions per run")
    for mode, batch in (("event", 1), ("batch", args.batch)):
        with tempfile.TemporaryDirectory() as tmp:
            rate = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.sessions, 1, batch)
        print(f"sqlite      {mode:5s} x{batch:<4d}  1 thread : {rate:8.0f} settled sessions/s")
        if args.sqlite_only:
            continue
        name = f"voltbill_bench_{secrets.token_hex(4)}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            rate = run(f"{base}/{name}", args.sessions, args.threads, batch)
            print(f"postgresql  {mode:5s} x{batch:<4d} {args.threads:2d} threads: {rate:8.0f} settled sessions/s")
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
