"""What a simulation measured: messages, errors, sessions and answer latency per OCPP action."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class Stats:
    """Counters shared by all simulated chargers of one run (one event loop, so no locking)."""

    started_at: float = field(default_factory=time.monotonic)
    messages_sent: int = 0
    messages_received: int = 0
    sessions_started: int = 0
    sessions_completed: int = 0
    connected: int = 0
    ever_connected: set[str] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)
    server_calls: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    window_started_at: float = field(default_factory=time.monotonic)
    latencies_by_minute: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    recording: bool = True
    window_errors: Counter[str] = field(default_factory=Counter)  # errors after the warm-up, before the end
    connected_at_end: int | None = None  # chargers online when a timed run's window closed

    def answered(self, action: str, seconds: float) -> None:
        """One CALL answered after ``seconds`` (kept only inside the measuring window)."""
        if self.recording:
            self.latencies[action].append(seconds)
            self.latencies_by_minute[int((time.monotonic() - self.window_started_at) // 60)].append(seconds)

    def error(self, kind: str) -> None:
        """One failure, by kind (e.g. ``CallError:FormationViolation``, ``timeout:MeterValues``)."""
        self.errors[kind] += 1
        if self.recording:
            self.window_errors[kind] += 1

    def reset_latencies(self) -> None:
        """Forget latencies and errors measured so far (end of a warm-up)."""
        self.latencies = defaultdict(list)
        self.latencies_by_minute = defaultdict(list)
        self.window_started_at = time.monotonic()
        self.window_errors = Counter()

    def close_window(self) -> None:
        """The measuring window of a timed run ends: what follows (the stop wave) is not measured."""
        self.recording = False
        self.connected_at_end = self.connected

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary; latency in milliseconds."""
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        per_action: dict[str, dict[str, float | int]] = {}
        everything: list[float] = []
        for action in sorted(self.latencies):
            values = sorted(self.latencies[action])
            everything.extend(values)
            per_action[action] = _latency_row(values)
        everything.sort()
        return {
            "chargers_connected": len(self.ever_connected),
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "messages_sent": self.messages_sent,
            "messages_per_s": round(self.messages_sent / elapsed, 1),
            "elapsed_s": round(elapsed, 2),
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(sorted(self.errors.items())),
            "window": {
                "errors": sum(self.window_errors.values()),
                "errors_by_kind": dict(sorted(self.window_errors.items())),
                "connected_at_end": self.connected if self.connected_at_end is None else self.connected_at_end,
            },
            "server_calls": dict(sorted(self.server_calls.items())),
            "latency_ms": {"all": _latency_row(everything), **per_action},
            # when answers slowed, not only how much: all actions, per minute of the measuring window
            "latency_ms_by_minute": [
                {"minute": minute, **_latency_row(sorted(values))}
                for minute, values in sorted(self.latencies_by_minute.items())
            ],
        }


def _latency_row(values: list[float]) -> dict[str, float | int]:
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.50) * 1000, 2),
        "p95": round(percentile(values, 0.95) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
        "max": round((values[-1] if values else 0.0) * 1000, 2),
    }
