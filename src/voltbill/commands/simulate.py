"""``voltbill simulate``: simulated OCPP chargers running full sessions against a server, with a summary."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from voltbill.cli import app, fail, one_line_errors
from voltbill.domain.clock import ensure_utc
from voltbill.domain.errors import InvalidInput
from voltbill.gc_pacing import tune_gc
from voltbill.simulator.config import SimulationConfig
from voltbill.simulator.stats import Stats

T = TypeVar("T")


def raise_open_file_limit() -> int:
    """Lift the soft open-file limit to the hard one (one socket per charger); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1_048_576
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@app.command()
@one_line_errors
def simulate(
    url: str = typer.Option(..., "--url", help="OCPP base URL, e.g. ws://127.0.0.1:8180/ocpp (charger id appended)."),
    chargers: int = typer.Option(..., "--chargers", help="Number of concurrent simulated chargers."),
    protocol: str = typer.Option("ocpp1.6", "--protocol", help="ocpp1.6, ocpp2.0.1 or mixed (alternating)."),
    sessions: int = typer.Option(1, "--sessions", help="Sessions per charger; 0 = keep charging until --duration."),
    kind: str = typer.Option("mixed", "--kind", help="Meter curve: ac (~11 kW), dc (CC/CV fast charging) or mixed."),
    speed: float = typer.Option(1.0, "--speed", help="Time acceleration: 60 runs a simulated hour in one minute."),
    heartbeat_interval: float = typer.Option(
        None, "--heartbeat-interval", help="Simulated seconds between heartbeats (default: what the server sets)."
    ),
    meter_interval: float = typer.Option(60.0, "--meter-interval", help="Simulated seconds between MeterValues."),
    max_session_minutes: float = typer.Option(
        240.0, "--max-session-minutes", help="Longest charge (simulated); each driver stays between half and all of it."
    ),
    idle_minutes: float = typer.Option(
        0.0, "--idle-minutes", help="Parking after charging, status SuspendedEV (simulated)."
    ),
    gap_minutes: float = typer.Option(1.0, "--gap-minutes", help="Pause between two sessions (simulated)."),
    duration: float = typer.Option(
        None, "--duration", help="Stop after this many wall-clock seconds (running sessions are stopped; not timed)."
    ),
    ramp_up: float = typer.Option(0.0, "--ramp-up", help="Spread the chargers' first connection over N seconds."),
    warmup: float = typer.Option(0.0, "--warmup", help="Ignore latencies of the first N wall-clock seconds."),
    password: str = typer.Option(
        None, "--password", help="Basic-auth password; {id} and {n} give per-charger passwords ('pw-{id}')."
    ),
    id_tag: str = typer.Option("{id}-TAG", "--id-tag", help="Id tag each charger authorizes with ({id}, {n})."),
    prefix: str = typer.Option("SIM-", "--prefix", help="Charger ids are PREFIX00001, PREFIX00002, ..."),
    first: int = typer.Option(1, "--first", help="Number of the first charger (to split a fleet across runs)."),
    limit_kw: float = typer.Option(None, "--limit-kw", help="Connector limit (default 11 kW AC, 150 kW DC)."),
    register: str = typer.Option(
        None, "--register", help="REST base URL (http://H:P): PUT chargers, drivers, tokens, tariff first."
    ),
    api_key: str = typer.Option(None, "--api-key", envvar="VOLTBILL_API_KEY", help="Operator API key for --register."),
    start_time: str = typer.Option(
        None,
        "--start-time",
        help="Simulated start time, ISO 8601 (default: now; accelerated runs start early enough never to send"
        " timestamps from the future).",
    ),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for an answer."),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="JSON-schema check of own messages."),
    seed: int = typer.Option(None, "--seed", help="Seed for reproducible curves and timing jitter."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run simulated OCPP chargers against a server and print what they measured."""
    from voltbill.simulator.runner import build_chargers

    if protocol not in ("ocpp1.6", "ocpp2.0.1", "mixed"):
        raise InvalidInput(f"--protocol must be ocpp1.6, ocpp2.0.1 or mixed, got {protocol!r}.")
    if kind not in ("ac", "dc", "mixed"):
        raise InvalidInput(f"--kind must be ac, dc or mixed, got {kind!r}.")
    if chargers < 1:
        raise InvalidInput("--chargers must be at least 1.")
    if register and not api_key:
        raise InvalidInput("--register needs --api-key (or VOLTBILL_API_KEY).")
    specs = build_chargers(
        chargers,
        prefix=prefix,
        first=first,
        protocol=protocol,
        kind=kind,
        password=password,
        id_tag=id_tag,
        limit_w=limit_kw * 1000 if limit_kw else None,
    )
    config = SimulationConfig(
        url=url,
        chargers=specs,
        sessions=sessions,
        speed=speed,
        heartbeat_interval_s=heartbeat_interval,
        meter_interval_s=meter_interval,
        max_session_s=max_session_minutes * 60,
        idle_s=idle_minutes * 60,
        gap_s=gap_minutes * 60,
        duration_s=duration,
        ramp_s=ramp_up,
        warmup_s=warmup,
        timeout_s=timeout,
        validate=validate,
        seed=seed,
        start=_start(start_time),
    )
    raise_open_file_limit()
    err = Console(stderr=True)
    if register:
        from voltbill.simulator.register import register as register_fleet

        count = asyncio.run(register_fleet(register, api_key, specs))
        err.print(f"registered {count} chargers, drivers and tokens at {register}", highlight=False)
    summary = _run_loop(_run_with_progress(config, err))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        Console().print(_table(summary, chargers))
    if summary["chargers_connected"] == 0:
        worst = max(summary["errors_by_kind"].items(), key=lambda kv: kv[1], default=("no answer", 0))[0]
        raise fail(f"no charger could connect to {url} ({worst}).", 1)


def _start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise InvalidInput(f"--start-time must be ISO 8601 with a UTC offset, got {value!r}.") from exc


async def _run_with_progress(config: SimulationConfig, err: Console) -> dict[str, Any]:
    from voltbill.simulator.runner import run_simulation

    total = config.sessions * len(config.chargers) if config.sessions else None
    with err.status("starting chargers", spinner="dots") as status:

        def show(stats: Stats, count: int) -> None:
            sessions = f"{stats.sessions_completed}/{total}" if total else str(stats.sessions_completed)
            status.update(
                f"connected {stats.connected}/{count} · sessions {sessions} · messages {stats.messages_sent}"
                f" · errors {sum(stats.errors.values())}"
            )

        summary, _ = await run_simulation(config, progress=show)
    return summary


def _run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the chargers on uvloop when it is installed (it comes with uvicorn[standard] on Linux and macOS): it costs
    less CPU per message than asyncio's own loop, which counts when simulator and server share a machine. The
    garbage collector is tuned and paced as in the server (``voltbill.gc_pacing``): its pauses would show up as
    answer latency."""
    tune_gc()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _table(summary: dict[str, Any], chargers: int) -> Table:
    table = Table(title="voltbill simulate", show_lines=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("chargers connected", f"{summary['chargers_connected']}/{chargers}")
    table.add_row("sessions completed", f"{summary['sessions_completed']} (started {summary['sessions_started']})")
    table.add_row("messages sent", str(summary["messages_sent"]))
    table.add_row("messages/s", str(summary["messages_per_s"]))
    table.add_row("errors", str(summary["errors"]))
    for kind, count in summary["errors_by_kind"].items():
        table.add_row(f"  {kind}", str(count))
    table.add_row("elapsed (s)", str(summary["elapsed_s"]))
    for action, row in summary["latency_ms"].items():
        table.add_row(
            f"latency {action} (ms)", f"n={row['count']} p50 {row['p50']} · p95 {row['p95']} · p99 {row['p99']}"
        )
    return table
