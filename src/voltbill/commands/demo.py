"""``voltbill demo``: seed a realistic operator with three months of history, then serve it with live chargers.

The history runs through the real use cases (see ``voltbill.demo``); the server is ``voltbill serve`` in this
process and the live chargers are ``voltbill simulate`` against it. Safe to rerun: nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from voltbill.cli import app, one_line_errors
from voltbill.demo.catalog import Size
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import InvalidInput

if TYPE_CHECKING:
    from voltbill.config import Settings

err = Console(stderr=True, highlight=False)


def demo_size(value: str) -> Size:
    """``--size``: ``full`` or ``small``."""
    if value == "full":
        return "full"
    if value == "small":
        return "small"
    raise InvalidInput(f"--size must be small or full, got {value!r}.", field="size")


def reset_database(url: str) -> None:
    """Remove every voltbill table: the SQLite file (with its WAL), or all migrations down on PostgreSQL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    from alembic import command

    from voltbill.adapters.store.migrate import alembic_config

    command.downgrade(alembic_config(url), "base")


def seed(settings: Settings, size: Size, *, quiet: bool = False) -> dict[str, Any]:
    """Seed the demo operator (registry, users, payments, history); returns counts for the summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from voltbill.api.app import create_app
    from voltbill.demo import catalog
    from voltbill.demo.seed import HISTORY_DAYS, has_history, history_plan, seed_history, seed_registry

    now = datetime.now(UTC).replace(microsecond=0)
    clock = FixedClock(now - timedelta(days=HISTORY_DAYS[size] + 1))
    seeding = create_app(settings, clock=clock)
    state = seeding.state
    # The seeding app's background workers would render PDFs and retry payments with the seeding clock while
    # the history is written; the server's own workers do that afterwards.
    _stop_workers(state)
    # Replayed failures (one demo card declines every charge) are part of the story, not news for the console.
    noisy = logging.getLogger("voltbill")
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        seed_registry(state, size, clock)
        result: dict[str, Any] = {"sessions": 0, "statements": 0, "history": "already there"}
        if not has_history(state):
            plan = history_plan(size, now)
            with Progress(
                TextColumn("seeding history"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=quiet,
            ) as bar:
                task = bar.add_task("sessions", total=len(plan))
                stats, statements = seed_history(state, clock, plan, progress=lambda n: bar.advance(task, n))
            result = {"sessions": stats.started, "statements": statements, "history": "generated"}
            result["refused"] = stats.refused
        result["chargers"] = len(catalog.chargers(size))
        result["drivers"] = len(catalog.drivers(size))
        return result
    finally:
        noisy.setLevel(level)
        state.db.dispose()


def _stop_workers(state: Any) -> None:
    """Stop the background threads an app started (the invoicing worker) and wait for them to end."""
    worker = getattr(state, "invoicing_worker", None)
    if worker is not None:
        worker.stop()
        worker.join(timeout=30)


def logins(size: Size) -> list[tuple[str, str, str]]:
    """``(role, email, password)`` of the demo's web logins."""
    from voltbill.demo import catalog
    from voltbill.demo.seed import live_driver

    driver = live_driver(size)
    return [
        ("operator admin", catalog.ADMIN_EMAIL, catalog.DEMO_PASSWORD),
        ("operator staff", catalog.STAFF_EMAIL, catalog.DEMO_PASSWORD),
        (f"driver ({driver.name})", driver.email, catalog.DEMO_PASSWORD),
    ]


def demo_api_key() -> str:
    """The demo operator's admin API key."""
    from voltbill.demo import catalog

    return catalog.DEMO_API_KEY


def simulation_config(size: Size, url: str) -> Any:
    """Live chargers: every demo charger with its password and a demo driver's token, in real time, short
    sessions with some parking so idle fees show up."""
    from voltbill.demo import catalog
    from voltbill.demo.seed import charger_password, failing_card_driver
    from voltbill.simulator.config import ChargerSpec, SimulationConfig

    # Card and post-paid drivers: their live sessions run to the end (a wallet could run dry and be stopped).
    failing = failing_card_driver(size)
    drivers = [d for d in catalog.drivers(size) if d.payment_method != "wallet" and d.id != failing]
    specs = tuple(
        ChargerSpec(
            charger_id=c.id,
            password=charger_password(c.id),
            id_tag=drivers[n % len(drivers)].token_uid,
            protocol=c.protocol,
            kind=c.kind.lower(),
            limit_w=float(c.max_kw * 1000),
        )
        for n, c in enumerate(catalog.chargers(size))
    )
    return SimulationConfig(
        url=url,
        chargers=specs,
        sessions=10_000,
        meter_interval_s=30,
        max_session_s=20 * 60,
        idle_s=3 * 60,
        gap_s=4 * 60,
        ramp_s=10,
        validate=False,
        vendor="voltbill-demo",
    )


async def serve_with_chargers(
    application: Any, host: str, port: int, simulation: Any | None, ready: Callable[[], None]
) -> None:
    """Run the server in this event loop; once it listens, call ``ready`` and start the simulated chargers."""
    import uvicorn

    from voltbill.adapters.ocpp.server import websocket_options

    options = websocket_options(application.state.settings)
    server = uvicorn.Server(uvicorn.Config(application, host=host, port=port, log_level="warning", **options))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    chargers = None
    if server.started:
        ready()
    if simulation is not None and server.started:
        from voltbill.simulator.runner import run_simulation

        chargers = asyncio.create_task(run_simulation(simulation))
    try:
        await serving
    finally:
        if chargers is not None:
            chargers.cancel()
            await asyncio.gather(chargers, return_exceptions=True)


@app.command()
@one_line_errors
def demo(
    port: int = typer.Option(None, "--port", help="TCP port of the server (default 8180)."),
    host: str = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Run live simulated chargers."),
    reset: bool = typer.Option(False, "--reset", help="Delete all data in the database first."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed and exit without starting the server."),
    size: str = typer.Option("full", "--size", help="full (6 sites, 24 chargers, 3 months) or small (tests)."),
) -> None:
    """Seed a demo operator with three months of history, start the server and live simulated chargers."""
    from voltbill.config import get_settings

    chosen = demo_size(size)
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    if reset:
        reset_database(settings.database_url)
        err.print("database reset")
    started = datetime.now(UTC)
    result = seed(settings, chosen)
    seconds = (datetime.now(UTC) - started).total_seconds()
    history = (
        f"history generated ({result['sessions']} sessions, {result['statements']} monthly statements)"
        if result["history"] == "generated"
        else "history already there"
    )
    err.print(
        f"demo operator ready in {seconds:.0f} s: {result['chargers']} chargers, {result['drivers']} drivers, {history}"
    )
    url = f"http://{host}:{port}/"
    typer.echo(f"dashboard: {url}")
    for role, email, password in logins(chosen):
        typer.echo(f"login ({role}): {email} / {password}")
    typer.echo(f"API: {url}docs  (Authorization: Bearer {demo_api_key()})")
    if seed_only:
        return
    from voltbill.api.app import create_app

    application = create_app(settings)
    simulation = simulation_config(chosen, f"ws://{host}:{port}/ocpp") if simulate else None

    def ready() -> None:
        live = " (live chargers running)" if simulate else ""
        typer.echo(f"OCPP endpoint: ws://{host}:{port}/ocpp/{{charge_point_id}}{live}")
        typer.echo("press Ctrl+C to stop")

    try:
        asyncio.run(serve_with_chargers(application, host, port, simulation, ready))
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises the signal
        err.print("stopped")
