"""OCPP load benchmark: how many connected chargers one ``voltbill serve`` holds, and how many MeterValues per
second it persists.

The server runs as a subprocess (SQLite file, then a throw-away PostgreSQL database); the chargers are
``voltbill simulate`` subprocesses, so client and server do not share an event loop. Loopback only.

* ``ramp``: for each step (e.g. 1,000 / 2,000 / 5,000 chargers) the chargers connect over ``--ramp`` seconds
  (default: 15 a second), each boots and starts one long AC session, then sends a heartbeat every 30 s and
  MeterValues every 10 s (jittered, phases spread by the ramp). After ``--settle`` more seconds answer latency is
  measured for ``--window`` seconds, and meter value rows are counted in the database at the start and end of the
  window. A step holds if every charger is connected at the end of the window, no call failed in the window and the
  p99 answer time of all calls in the window is below 100 ms. The connect/start wave before and the stop wave after
  the window are not timed; their errors are reported apart (``errors_all_phases_by_kind``).
* ``burst``: ``--burst-chargers`` chargers send MeterValues as fast as the server answers (each waits for its
  answer, as OCPP-J requires); the persisted rate is read from the database over the window.

Each MeterValues message carries 4 sampled values (energy register, power, current, SoC) = 4 rows.

    .venv/bin/python benchmarks/ocpp_load.py --db sqlite,postgresql --steps 1000,2000,5000 --burst-chargers 400
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
API_KEY = "bench_" + secrets.token_hex(12)
# The load benchmarks' server: the chargers are registered without passwords (5,000 registrations skip argon2) and
# every simulated charger connects from 127.0.0.1.
SERVER_SETTINGS = {
    "VOLTBILL_API_KEY": API_KEY,
    "VOLTBILL_ALLOW_UNAUTHENTICATED_CHARGERS": "true",
    "VOLTBILL_OCPP_MAX_CONNECTIONS_PER_IP": "0",
}
PG_ADMIN = os.environ.get("VOLTBILL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ROWS_PER_MESSAGE = 4


def raise_nofile() -> None:
    """One socket per charger: lift the soft open-file limit to the hard one (runs in this and child processes)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        path = Path(f"/tmp/voltbill-bench-{secrets.token_hex(4)}.db")
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"voltbill_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def server(url: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, **SERVER_SETTINGS, "VOLTBILL_DATABASE_URL": url}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "voltbill", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            preexec_fn=raise_nofile,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"server did not start, see {log}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def register(port: int, count: int, prefix: str) -> float:
    """PUT ``count`` chargers (no password: the operator allows it for this loopback run), drivers and tokens."""
    import asyncio

    from voltbill.simulator.register import register as put_fleet
    from voltbill.simulator.runner import build_chargers

    started = time.monotonic()
    specs = build_chargers(count, prefix=prefix, id_tag="{id}", protocol="ocpp1.6", kind="ac")
    asyncio.run(put_fleet(f"http://127.0.0.1:{port}", API_KEY, specs, concurrency=24))
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> tuple[float, float, float]:
    """The process's resident memory from /proc: total, anonymous (the heaps: Python objects, SQLite's page caches)
    and file-backed or shared (mapped libraries, SQLite's WAL index), in MiB."""
    kib: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            kib[name] = int(value.split()[0])
    return (
        round(kib["VmRSS"] / 1024, 1),
        round(kib["RssAnon"] / 1024, 1),
        round((kib["RssFile"] + kib["RssShmem"]) / 1024, 1),
    )


def wait_until_idle(pid: int, limit_s: float = 180) -> None:
    """Wait for the server to finish the previous step's stop wave (pricing, CDRs): < 15 % CPU over 2 s."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(2)
        if cpu_seconds(pid) - before < 0.3:
            return


def meter_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM meter_values")).scalar_one())


def simulators(
    port: int, chargers: int, processes: int, prefix: str, *, meter_s: float, heartbeat_s: float, ramp_s: float,
    warmup_s: float, duration_s: float,
) -> list[subprocess.Popen[str]]:  # fmt: skip
    procs = []
    per = -(-chargers // processes)
    for p in range(processes):
        first = 1 + p * per
        count = min(per, chargers - p * per)
        if count <= 0:
            break
        command = [
            PYTHON, "-m", "voltbill", "simulate", "--url", f"ws://127.0.0.1:{port}/ocpp",
            "--chargers", str(count), "--first", str(first), "--prefix", prefix, "--id-tag", "{id}",
            "--protocol", "ocpp1.6", "--kind", "ac", "--sessions", "1", "--speed", "1",
            "--meter-interval", str(meter_s), "--heartbeat-interval", str(heartbeat_s),
            "--max-session-minutes", "600", "--gap-minutes", "0.05", "--ramp-up", str(ramp_s),
            "--warmup", str(warmup_s), "--duration", str(duration_s), "--no-validate", "--timeout", "30", "--json",
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=raise_nofile
            )
        )
    return procs


def collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=600)
        out.append(json.loads(stdout))
    return out


def measure(
    engine: sa.Engine, server_pid: int, port: int, chargers: int, processes: int, prefix: str, *, meter_s: float,
    heartbeat_s: float, ramp_s: float, settle_s: float, window_s: float,
) -> dict[str, Any]:  # fmt: skip
    warmup = ramp_s + settle_s
    started = time.monotonic()
    procs = simulators(
        port, chargers, processes, prefix, meter_s=meter_s, heartbeat_s=heartbeat_s, ramp_s=ramp_s,
        warmup_s=warmup, duration_s=warmup + window_s,
    )  # fmt: skip
    time.sleep(max(0.0, warmup - (time.monotonic() - started)))
    rows0, cpu0, t0 = meter_rows(engine), cpu_seconds(server_pid), time.monotonic()
    time.sleep(max(0.0, warmup + window_s - (time.monotonic() - started)))
    rows1, cpu1, t1 = meter_rows(engine), cpu_seconds(server_pid), time.monotonic()
    rss = memory_mib(server_pid)[0]
    summaries = collect(procs)
    elapsed = t1 - t0
    all_p99 = max(s["latency_ms"]["all"]["p99"] for s in summaries)
    mv_p99 = max(s["latency_ms"].get("MeterValues", {"p99": 0})["p99"] for s in summaries)
    return {
        "chargers": chargers,
        "connected": sum(s["window"]["connected_at_end"] for s in summaries),
        "sessions_started": sum(s["sessions_started"] for s in summaries),
        "errors": sum(s["window"]["errors"] for s in summaries),
        "errors_by_kind": _merge(s["window"]["errors_by_kind"] for s in summaries),
        "errors_all_phases_by_kind": _merge(s["errors_by_kind"] for s in summaries),
        "calls_measured": sum(s["latency_ms"]["all"]["count"] for s in summaries),
        "p50_ms": max(s["latency_ms"]["all"]["p50"] for s in summaries),
        "p99_ms": all_p99,
        "meter_values_p99_ms": mv_p99,
        "p99_ms_by_action": {
            action: max(s["latency_ms"].get(action, {"p99": 0})["p99"] for s in summaries)
            for action in sorted({a for s in summaries for a in s["latency_ms"]} - {"all"})
        },
        "rows_per_s": round((rows1 - rows0) / elapsed, 1),
        "meter_values_per_s": round((rows1 - rows0) / elapsed / ROWS_PER_MESSAGE, 1),
        "server_cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "server_rss_mib": round(rss, 1),
    }


def _merge(dicts: Any) -> dict[str, int]:
    merged: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            merged[k] = merged.get(k, 0) + v
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--steps", default="1000,2000,5000")
    parser.add_argument("--ramp", type=float, default=0, help="seconds to connect a step (default: chargers / 15)")
    parser.add_argument("--settle", type=float, default=30)
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="simulator processes")
    parser.add_argument("--burst-chargers", type=int, default=400, help="0: no burst")
    parser.add_argument("--burst-window", type=float, default=30)
    parser.add_argument("--port", type=int, default=8191)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    raise_nofile()
    steps = [int(s) for s in args.steps.split(",") if s]
    results: dict[str, Any] = {"machine": machine(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for kind in args.db.split(","):
        with database(kind) as url, server(url, args.port, Path(f"/tmp/voltbill-bench-{kind}.log")) as proc:
            engine = sa.create_engine(url)
            fleet = max([*steps, args.burst_chargers])
            took = register(args.port, fleet, "LD-")
            print(f"[{kind}] registered {fleet} chargers in {took:.0f} s", file=sys.stderr)
            rows: list[dict[str, Any]] = []
            for chargers in steps:
                wait_until_idle(proc.pid)
                ramp = args.ramp or max(10.0, chargers / 15)
                row = measure(
                    engine, proc.pid, args.port, chargers, args.processes, "LD-", meter_s=10, heartbeat_s=30,
                    ramp_s=ramp, settle_s=args.settle, window_s=args.window,
                )  # fmt: skip
                row["holds"] = row["connected"] == chargers and row["errors"] == 0 and row["p99_ms"] < 100
                rows.append(row)
                print(f"[{kind}] ramp {json.dumps(row)}", file=sys.stderr)
            wait_until_idle(proc.pid)
            if not args.burst_chargers:
                results[kind] = {"steps": rows, "register_s": round(took, 1)}
                engine.dispose()
                continue
            burst = measure(
                engine, proc.pid, args.port, args.burst_chargers, max(args.processes, 2), "LD-", meter_s=0.1,
                heartbeat_s=30, ramp_s=5, settle_s=10, window_s=args.burst_window,
            )  # fmt: skip
            print(f"[{kind}] burst {json.dumps(burst)}", file=sys.stderr)
            results[kind] = {"steps": rows, "burst": burst, "register_s": round(took, 1)}
            engine.dispose()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


if __name__ == "__main__":
    main()
