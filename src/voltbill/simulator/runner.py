"""Runs a whole simulation: builds the chargers, staggers their start, enforces the duration, reports."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from voltbill.gc_pacing import pace_gc
from voltbill.simulator.charger import SimulatedCharger
from voltbill.simulator.config import ChargerSpec, SimulationConfig
from voltbill.simulator.curves import DEFAULT_LIMIT_W
from voltbill.simulator.stats import Stats
from voltbill.simulator.timing import SimClock

Progress = Callable[[Stats, int], None]


def build_chargers(
    count: int,
    *,
    prefix: str = "SIM-",
    first: int = 1,
    protocol: str = "ocpp1.6",
    kind: str = "ac",
    password: str | None = None,
    id_tag: str = "{id}-TAG",
    limit_w: float | None = None,
) -> tuple[ChargerSpec, ...]:
    """Charger specs ``{prefix}{n:05d}``. ``protocol``/``kind`` may be ``mixed`` (alternating); ``password`` and
    ``id_tag`` may contain ``{id}`` (charger id) and ``{n}`` (its number) for per-charger values."""
    specs = []
    for n in range(first, first + count):
        charger_id = f"{prefix}{n:05d}"
        proto = ("ocpp1.6", "ocpp2.0.1")[n % 2] if protocol == "mixed" else protocol
        curve = ("ac", "dc")[n % 2] if kind == "mixed" else kind
        specs.append(
            ChargerSpec(
                charger_id=charger_id,
                password=password.format(id=charger_id, n=n) if password is not None else None,
                id_tag=id_tag.format(id=charger_id, n=n),
                protocol=proto,
                kind=curve,
                limit_w=limit_w or DEFAULT_LIMIT_W.get(curve, 11_000.0),
            )
        )
    return tuple(specs)


def simulated_start(config: SimulationConfig, now: datetime | None = None) -> datetime:
    """Where simulated time begins when the run does not say: far enough in the past that an accelerated run
    never sends a timestamp from the future (servers refuse clock skew), at most as far as the run can last."""
    now = now or datetime.now(UTC)
    if config.speed <= 1:
        return now
    per_session = config.max_session_s + config.idle_s + 1.5 * config.gap_s
    span = config.gap_s + config.sessions * per_session if config.sessions else float("inf")
    if config.duration_s is not None:
        span = min(span, config.duration_s * config.speed)
    # margin: answer times and scheduling stretch the run on the wall clock, each real second by ``speed``
    span = span * 1.1 + (config.ramp_s + 20) * config.speed
    return now - timedelta(seconds=span)


async def run_simulation(
    config: SimulationConfig, progress: Progress | None = None, progress_every_s: float = 0.5
) -> tuple[dict[str, Any], list[SimulatedCharger]]:
    """Run until every charger finished its sessions or ``duration_s`` elapsed; returns the summary and chargers."""
    stats = Stats()
    clock = SimClock(config.speed, config.start or simulated_start(config))
    chargers = [SimulatedCharger(spec, config, clock, stats) for spec in config.chargers]
    count = len(chargers)
    runs = [
        asyncio.create_task(c.run(delay_s=config.ramp_s * i / count if config.ramp_s else 0.0))
        for i, c in enumerate(chargers)
    ]
    started = time.monotonic()
    pacer = asyncio.create_task(pace_gc(), name="gc-pacer")  # GC pauses would count as answer time
    warm = config.warmup_s <= 0
    all_done = asyncio.gather(*runs, return_exceptions=True)
    try:
        while not all_done.done():
            elapsed = time.monotonic() - started
            if not warm and elapsed >= config.warmup_s:
                stats.reset_latencies()
                warm = True
            if config.duration_s is not None and elapsed >= config.duration_s:
                break
            if progress is not None:
                progress(stats, count)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(all_done), timeout=progress_every_s)
        if config.duration_s:
            stats.close_window()  # the stop wave at the end of a timed run is not measured
        for charger in chargers:
            charger.shutdown()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(all_done), timeout=config.timeout_s + 5)
    finally:
        pacer.cancel()
        for task in runs:
            task.cancel()
        results = await all_done
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            stats.error(f"charger:{type(result).__name__}")
    if progress is not None:
        progress(stats, count)
    return stats.summary(), chargers
