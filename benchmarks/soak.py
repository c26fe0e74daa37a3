"""OCPP soak: N simulated chargers run sessions against ``voltbill serve`` for a while (default 10 min), with
optional ``kill -9`` of the server at random moments. Records server RSS over time, answer latency, and checks
that no session was lost or duplicated: every session a charger saw acknowledged is stored once, completed, with
its metered energy, and has exactly one CDR; no other session exists.

With ``--payments mixed`` (the default) the drivers pay by wallet, card (the sandbox gateway) and monthly invoice in
turn, so sessions are debited, held and captured, and invoiced (PDF rendered, e-mail queued) while the chargers run;
after the run, once the server has settled and invoiced everything, the money is audited too: every CDR settled
once for its exact total, the trial balance balanced, invoice numbers gap-free, each wallet or card session on
exactly one invoice.

    .venv/bin/python benchmarks/soak.py --db sqlite --chargers 200 --minutes 10 --kills 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_load import (
    API_KEY,
    PYTHON,
    ROOT,
    SERVER_SETTINGS,
    cpu_seconds,
    database,
    machine,
    memory_mib,
    raise_nofile,
)
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line
from voltbill.gc_pacing import tune_gc
from voltbill.simulator.config import SimulationConfig
from voltbill.simulator.register import register
from voltbill.simulator.runner import build_chargers, run_simulation

PREFIX = "SK-"
METHODS = ("wallet", "card", "invoice")


def growth_mib_per_min(
    samples: list[tuple[float, float, float, float]], since_s: float, until_s: float
) -> float | None:
    """Least-squares slope of total RSS over the samples taken from ``since_s`` to ``until_s`` (MiB per minute)."""
    points = [(t, rss) for t, rss, _, _ in samples if since_s <= t <= until_s]
    if len(points) < 3:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_r = sum(r for _, r in points) / len(points)
    slope = sum((t - mean_t) * (r - mean_r) for t, r in points) / sum((t - mean_t) ** 2 for t, _ in points)
    return round(slope * 60, 2)


class Server:
    """``voltbill serve`` that can be killed with SIGKILL and restarted on the same port."""

    def __init__(self, url: str, port: int, log: Path) -> None:
        self.url, self.port, self.log = url, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with socket.socket() as probe:  # another soak's server on the port would answer in this one's place
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise RuntimeError(f"port {self.port} is taken (another soak still running?)") from None
        env = {**os.environ, **SERVER_SETTINGS, "VOLTBILL_DATABASE_URL": self.url}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "voltbill", "serve", "--port", str(self.port)],
                env=env, stdout=out, stderr=out, cwd=ROOT, preexec_fn=raise_nofile,
            )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if self.proc.poll() is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server did not start, see {self.log}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def soak(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(kind) as url:
        server = Server(url, args.port, Path(f"/tmp/voltbill-soak-{kind}.log"))
        await server.start()
        try:
            specs = build_chargers(args.chargers, prefix=PREFIX, id_tag="{id}", protocol="mixed", kind="mixed")
            methods = METHODS if args.payments == "mixed" else ("invoice",)
            await register(f"http://127.0.0.1:{args.port}", API_KEY, specs, concurrency=24, payment_methods=methods)
            ramp = args.ramp or max(10.0, args.chargers / 25)
            config = SimulationConfig(
                url=f"ws://127.0.0.1:{args.port}/ocpp", chargers=specs, sessions=0, speed=args.speed,
                meter_interval_s=args.meter_interval, heartbeat_interval_s=300, max_session_s=90 * 60,
                idle_s=10 * 60, gap_s=5 * 60, duration_s=ramp + 15 + args.minutes * 60, ramp_s=ramp, warmup_s=ramp + 15,
                timeout_s=30, validate=False, seed=args.seed,
            )  # fmt: skip
            rss: list[tuple[float, float, float, float]] = []  # (seconds, total, anonymous, file-backed) MiB
            # (seconds, server CPU %, this process's CPU % (the simulated chargers), SQLite WAL MiB) per interval
            load: list[tuple[float, float, float, float | None]] = []
            wal = Path(url.removeprefix("sqlite:///") + "-wal") if url.startswith("sqlite") else None
            last_cpu: tuple[float, float, float] | None = None
            started = time.monotonic()
            simulation = asyncio.create_task(run_simulation(config))
            rng = random.Random(args.seed)
            kills = sorted(rng.uniform(30, args.minutes * 60 - 30) for _ in range(args.kills))
            while not simulation.done():
                elapsed = time.monotonic() - started
                if kills and elapsed >= kills[0]:
                    kills.pop(0)
                    server.kill()
                    await asyncio.sleep(rng.uniform(0, 2))
                    await server.start()
                assert server.proc is not None
                with contextlib.suppress(FileNotFoundError):
                    rss.append((round(elapsed), *memory_mib(server.proc.pid)))
                    cpu = (time.monotonic(), cpu_seconds(server.proc.pid), time.process_time())
                    if last_cpu is not None and cpu[1] >= last_cpu[1]:  # a restart resets the server's count
                        span = cpu[0] - last_cpu[0]
                        load.append((
                            round(elapsed),
                            round(100 * (cpu[1] - last_cpu[1]) / span, 1),
                            round(100 * (cpu[2] - last_cpu[2]) / span, 1),
                            round(wal.stat().st_size / 2**20, 1) if wal is not None and wal.exists() else None,
                        ))  # fmt: skip
                    last_cpu = cpu
                await asyncio.wait({simulation}, timeout=10)
            summary, chargers = simulation.result()
            await asyncio.sleep(5)  # last stops are priced
            check = verify(url, chargers)
            if args.payments == "mixed":
                check |= await audit_money(url, f"http://127.0.0.1:{args.port}")
        finally:
            server.stop()
    return {
        "chargers": args.chargers,
        "minutes": args.minutes,
        "kills": args.kills,
        "sessions_completed": summary["sessions_completed"],
        "messages_sent": summary["messages_sent"],
        "messages_per_s": summary["messages_per_s"],
        "latency_ms": {
            k: summary["latency_ms"][k]
            for k in ("all", "MeterValues", "TransactionEvent")
            if k in summary["latency_ms"]
        },
        "latency_ms_by_minute": summary["latency_ms_by_minute"],
        "errors_by_kind": summary["errors_by_kind"],
        "window_errors_by_kind": summary["window"]["errors_by_kind"],  # the final stop wave left out
        "rss_mib": rss,
        "cpu_percent_and_wal_mib": load,
        # RSS trend over the second half of the measured window, the final stop wave left out (meaningless across
        # kills: each restart begins anew)
        "rss_growth_mib_per_min_second_half": None
        if args.kills
        else growth_mib_per_min(rss, ramp + 15 + args.minutes * 30, ramp + 15 + args.minutes * 60),
        **check,
    }


def verify(url: str, chargers: list[Any]) -> dict[str, Any]:
    """Compare what every charger saw acknowledged with what the database holds."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.charge_point_id, s.transaction_id, s.status, s.kwh, s.cdr_id, "
                "(SELECT count(*) FROM cdrs c WHERE c.session_id = s.id) AS cdrs "
                "FROM sessions s WHERE s.charge_point_id LIKE :p"
            ),
            {"p": PREFIX + "%"},
        ).all()
    engine.dispose()
    stored = {(r.charge_point_id, r.transaction_id): r for r in rows}
    seen = {(c.spec.charger_id, tx): (start, stop) for c in chargers for tx, start, stop in c.completed}
    lost = [key for key in seen if key not in stored or stored[key].status != "completed"]
    extra = [key for key in stored if key not in seen and stored[key].status == "completed"]
    wrong_energy = [
        key
        for key, (start, stop) in seen.items()
        if key in stored
        and abs(Decimal(str(stored[key].kwh or 0)) - Decimal(str(stop - start)) / 1000) > Decimal("0.002")
    ]
    cdr_counts = [r.cdrs for r in rows if r.status == "completed"]
    return {
        "sessions_acknowledged": len(seen),
        "sessions_stored": len(stored),
        "sessions_still_active": sum(1 for r in rows if r.status == "active"),
        "lost": len(lost),
        "extra_completed": len(extra),
        "wrong_energy": len(wrong_energy),
        "sessions_without_one_cdr": sum(1 for n in cdr_counts if n != 1),
    }


async def audit_money(url: str, api_url: str, drain_timeout_s: float = 900) -> dict[str, Any]:
    """Wait until the server has settled and invoiced every priced CDR (``drain_s``), then check the books."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as api:  # pending reads whole tables
        while True:
            pending = {i["kind"]: i["count"] for i in (await api.get("/api/v1/pending")).json()["items"]}
            waiting = pending.get("cdrs_unsettled", 0) + pending.get("captures_pending", 0) + _not_invoiced(url)
            if not waiting or time.monotonic() - started > drain_timeout_s:
                break
            await asyncio.sleep(5)
        drained = round(time.monotonic() - started)
        balanced = (await api.get("/api/v1/ledger/trial-balance")).json()["balanced"]
        pending = {i["kind"]: i["count"] for i in (await api.get("/api/v1/pending")).json()["items"]}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        cdrs = conn.execute(
            sa.text(
                "SELECT c.id, d.payment_method, c.total_excl_vat, c.total_incl_vat FROM cdrs c "
                "JOIN drivers d ON d.id = c.driver_id WHERE c.priced AND c.charge_point_id LIKE :p"
            ),
            {"p": PREFIX + "%"},
        ).all()
        paid: dict[str, list[Any]] = {}
        for row in conn.execute(sa.text("SELECT cdr_id, kind, status, amount FROM payments WHERE cdr_id IS NOT NULL")):
            paid.setdefault(row.cdr_id, []).append(row)
        on_invoices = Counter(r.cdr_id for r in conn.execute(sa.text("SELECT cdr_id FROM invoice_cdrs")))
        numbers = conn.execute(sa.text("SELECT series, sequence FROM invoices WHERE number IS NOT NULL")).all()
        unrendered = conn.execute(
            sa.text("SELECT count(*) FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM invoice_documents d "
                    "WHERE d.invoice_id = i.id)")
        ).scalar_one()  # fmt: skip
    engine.dispose()
    status = {"wallet": "paid", "card": "captured", "invoice": "on_account"}
    free = {"wallet": "free", "card": "cancelled", "invoice": "free"}  # nothing owed: a card's hold is released
    wrong = Counter[str]()
    for cdr_id, method, excl, incl in cdrs:
        payments = paid.get(cdr_id, [])
        total = invoice_line(Money(Decimal(str(incl if incl is not None else excl)), "EUR")).amount
        if sum(1 for p in payments if p.kind == "session") != 1:
            wrong["cdrs not settled exactly once"] += 1
        elif sum((Decimal(str(p.amount)) for p in payments), Decimal(0)) != total:
            wrong["cdrs settled for another amount"] += 1
        elif {p.status for p in payments} != {(free if total.is_zero() else status)[method]}:
            wrong["payments not paid, captured or on account"] += 1
        if on_invoices[cdr_id] != (0 if method == "invoice" else 1):  # invoice drivers wait for the statement
            wrong["cdrs not on the one invoice they belong on"] += 1
    series: dict[str, list[int]] = {}
    for name, sequence in numbers:
        series.setdefault(name, []).append(sequence)
    gaps = sum(sorted(seqs) != list(range(1, len(seqs) + 1)) for seqs in series.values())
    return {
        "drain_s": drained,
        "cdrs_by_payment_method": dict(Counter(method for _, method, _, _ in cdrs)),
        "invoices": len(numbers),
        "invoices_without_pdf": unrendered,
        "emails_queued_without_smtp": pending.get("emails_queued", 0),
        "trial_balance_balanced": balanced,
        "invoice_series_with_gaps_or_duplicates": gaps,
        "money_errors": dict(wrong),
    }


def _not_invoiced(url: str) -> int:
    """Wallet and card CDRs of the soak's drivers without an invoice yet."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM cdrs c JOIN drivers d ON d.id = c.driver_id "
                "WHERE c.priced AND d.payment_method IN ('wallet', 'card') AND c.charge_point_id LIKE :p "
                "AND NOT EXISTS (SELECT 1 FROM invoice_cdrs i WHERE i.cdr_id = c.id)"
            ),
            {"p": PREFIX + "%"},
        ).scalar_one()
    engine.dispose()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--meter-interval", type=float, default=120, help="simulated seconds")
    parser.add_argument("--kills", type=int, default=0, help="kill -9 of the server at random moments")
    parser.add_argument("--payments", choices=("mixed", "invoice"), default="mixed", help="how the drivers pay")
    parser.add_argument("--ramp", type=float, default=0, help="seconds to connect (default: chargers / 25)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--port", type=int, default=8196)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    raise_nofile()
    tune_gc()  # the simulated chargers run in this process: tuned as `voltbill simulate` is
    results: dict[str, Any] = {"machine": machine(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for kind in args.db.split(","):
        results[kind] = asyncio.run(soak(kind, args))
        print(f"[{kind}] {json.dumps(results[kind])}", file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
