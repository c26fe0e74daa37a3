"""CPU per live cost and per stop: what the server spends pricing one session from the store (the reads, the
charging periods, the price, the CDR), apart from OCPP and the network.

A SQLite file (or a throw-away PostgreSQL database) gets ``--sessions`` sessions on as many charge points, with
``--samples`` MeterValues each (energy register, power, current, SoC: 4 rows a sample) written one batch per
sample time, so each session's rows lie interleaved with the others' as in a running server. Then, for
``--calls`` of the sessions: the live cost (``publish_cost_update``: the 2.0.1 CostUpdated every
``VOLTBILL_OCPP_COST_UPDATE_INTERVAL_S``), once to warm up and once measured, then the stop (``stop_session``:
close, price, store the CDR; the event bus has no consumers, so settlement is not in it). Figures are CPU
milliseconds of this process per call (``time.process_time``), so other processes on the box do not count against
them; ``--pieces`` splits the live cost into its reads and the arithmetic.

    .venv/bin/python benchmarks/session_pricing.py --db sqlite,postgresql
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_load import database, machine
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.domain.clock import FixedClock
from voltbill.domain.pricing.periods import SessionToPrice, build_charging_periods
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.sessions import Sample
from voltbill.services import charging, registry
from voltbill.services.access import ensure_operator
from voltbill.services.charging import ChargingContext, StartSession, StopSession, TransactionUpdate
from voltbill.services.events import EventBus
from voltbill.services.session_pricing import _samples, _states, last_activity
from voltbill.simulator.register import SIM_LOCATION, SIM_TARIFF

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
TX = "tx-1"


def register_charge_points(db: Database, cps: list[str], registered: FixedClock) -> None:
    """The default operator, the simulator's tariff ``T1`` and charge points ``cps`` on it (no password)."""
    with db.uow() as uow:
        ensure_operator(uow, "default", clock=registered)
        registry.upsert_tariff(uow, "default", "T1", SIM_TARIFF, clock=registered)
    with db.uow() as uow:
        for cp in cps:
            registry.upsert_charge_point(
                uow, "default", cp, password=None, tariff_id="T1", location=SIM_LOCATION, clock=registered
            )


def seed(db: Database, ctx: ChargingContext, sessions: int, samples: int) -> list[str]:
    """Charge points with one active session each and ``samples`` readings a session, interleaved."""
    cps = [f"BP{n:05d}" for n in range(sessions)]
    register_charge_points(db, cps, FixedClock(T0 - timedelta(days=1)))
    start_sessions(db, ctx, cps, TX)
    for i in range(1, samples + 1):
        with db.uow() as uow:
            charging.record_batch(uow, ctx, minute_of_readings(cps, TX, i))
    return cps


def start_sessions(db: Database, ctx: ChargingContext, cps: list[str], tx: str) -> None:
    """A 2.0.1 session ``tx`` on EVSE 1 of each of ``cps``, begun at ``T0``."""
    for cp in cps:
        with db.uow() as uow:
            charging.start_session(uow, ctx, StartSession(cp, "ocpp2.0.1", 1, 1, T0, Decimal(0), transaction_id=tx))


def minute_of_readings(cps: list[str], tx: str, minute: int) -> list[TransactionUpdate]:
    """One MeterValues of session ``tx`` of each of ``cps`` at ``minute`` after ``T0``: energy register (11 kW),
    power, current, SoC."""
    at = T0 + timedelta(minutes=minute)
    readings = (
        ("Energy.Active.Import.Register", Decimal(183 * minute), "Wh"),
        ("Power.Active.Import", Decimal(11_000), "W"),
        ("Current.Import", Decimal(16), "A"),
        ("SoC", Decimal(20 + minute % 70), "Percent"),
    )
    return [TransactionUpdate(cp, tx, samples=tuple(Sample(at, m, "", v, u) for m, v, u in readings)) for cp in cps]


def cpu_ms_per_call(calls: list[Callable[[], Any]]) -> float:
    started = time.process_time()
    for call in calls:
        call()
    return round(1000 * (time.process_time() - started) / len(calls), 3)


def live_cost(db: Database, ctx: ChargingContext, cp: str) -> Callable[[], Any]:
    def run() -> Any:
        with db.read_uow() as uow:
            return charging.publish_cost_update(uow, ctx, cp, TX)

    return run


def stop(db: Database, ctx: ChargingContext, cp: str, samples: int) -> Callable[[], Any]:
    end = T0 + timedelta(minutes=samples, seconds=30)

    def run() -> Any:
        with db.uow() as uow:
            return charging.stop_session(uow, ctx, StopSession(cp, TX, end, Decimal(183 * samples)))

    return run


def pieces(db: Database, cps: list[str]) -> dict[str, float]:
    """The live cost's steps, CPU ms each (averaged over ``cps``)."""
    spent: dict[str, float] = {}

    def timed(label: str, fn: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = fn()
        spent[label] = spent.get(label, 0.0) + time.process_time() - started
        return result

    for cp in cps:
        with db.read_uow() as uow:
            row = timed("find session", lambda: charging._find_session(uow, cp, TX))  # noqa: B023
            end = timed("newest reading", lambda: last_activity(uow, row))  # noqa: B023
            point = timed("charge point", lambda: registry.get_charge_point(uow, row.charge_point_id))  # noqa: B023
            readings = timed("meter values", lambda: _samples(uow, row, end, None))  # noqa: B023
            states = timed("connector states", lambda: _states(uow, row, end))  # noqa: B023
            tariff = timed("tariff", lambda: registry.tariff_at(uow, row.tariff_id, row.start_date_time))  # noqa: B023
            periods = timed(
                "charging periods",
                lambda: build_charging_periods(row.start_date_time, end, readings, states),  # noqa: B023
            )
            session = SessionToPrice(row.start_date_time, end, tuple(periods))
            timed("price", lambda: price_session(tariff, session, ZoneInfo(point.time_zone)))  # noqa: B023
    return {label: round(1000 * seconds / len(cps), 3) for label, seconds in spent.items()}


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(kind) as url:
        migrate(url)
        db = Database(url)
        try:
            ctx = ChargingContext(bus=EventBus(), clock=FixedClock(T0 + timedelta(days=1)))
            started = time.monotonic()
            cps = seed(db, ctx, args.sessions, args.samples)
            measured = cps[: args.calls]
            result: dict[str, Any] = {
                "sessions": args.sessions,
                "samples_per_session": args.samples,
                "meter_value_rows": args.sessions * args.samples * 4,
                "seed_s": round(time.monotonic() - started, 1),
                "calls": len(measured),
            }
            cpu_ms_per_call([live_cost(db, ctx, cp) for cp in measured])  # warm-up: statement caches, pages
            result["live_cost_cpu_ms"] = cpu_ms_per_call([live_cost(db, ctx, cp) for cp in measured])
            if args.pieces:
                result["live_cost_pieces_cpu_ms"] = pieces(db, measured)
            result["stop_cpu_ms"] = cpu_ms_per_call([stop(db, ctx, cp, args.samples) for cp in measured])
        finally:
            db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--samples", type=int, default=60, help="MeterValues per session (one a minute)")
    parser.add_argument("--calls", type=int, default=300, help="sessions measured")
    parser.add_argument("--pieces", action="store_true", help="split the live cost into its steps")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for kind in args.db.split(","):
        results[kind] = run(kind, args)
        print(f"[{kind}] {json.dumps(results[kind])}", file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
