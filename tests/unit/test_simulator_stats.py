"""The simulation's latency record: per action for the whole window, and per minute of the window (so a soak
shows when answers slowed, not only that they did)."""

from __future__ import annotations

import time

from voltbill.simulator.stats import Stats


def test_latencies_are_kept_per_minute_of_the_measuring_window() -> None:
    stats = Stats()
    stats.answered("Heartbeat", 0.5)  # warm-up: forgotten with the reset
    stats.reset_latencies()
    stats.window_started_at = time.monotonic() - 125  # the window has run 2 min 5 s
    stats.answered("MeterValues", 0.010)
    stats.answered("MeterValues", 0.030)
    stats.window_started_at = time.monotonic() - 10
    stats.answered("Heartbeat", 0.002)
    stats.close_window()
    stats.answered("StopTransaction", 9.0)  # the stop wave after the window: not measured

    summary = stats.summary()

    assert summary["latency_ms"]["all"]["count"] == 3
    assert summary["latency_ms_by_minute"] == [
        {"minute": 0, "count": 1, "p50": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0},
        {"minute": 2, "count": 2, "p50": 10.0, "p95": 30.0, "p99": 30.0, "max": 30.0},
    ]
