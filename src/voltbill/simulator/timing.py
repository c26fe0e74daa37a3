"""Simulated time: runs ``speed`` times faster than the wall clock, so a one-hour session takes seconds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Virtual UTC time starting at ``start`` (default: now) and advancing ``speed`` simulated seconds per second."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._t0 = time.monotonic()
        self._started_in_past = self._start < datetime.now(UTC) - timedelta(seconds=1)

    def now(self) -> datetime:
        """Current simulated time (aware UTC); never ahead of the wall clock when the run started in the past,
        since servers clamp timestamps from the future."""
        simulated = self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)
        if self._started_in_past:
            return min(simulated, datetime.now(UTC))
        return simulated

    def real(self, simulated_s: float) -> float:
        """Wall-clock seconds that ``simulated_s`` simulated seconds take."""
        return simulated_s / self.speed

    async def sleep(self, simulated_s: float) -> None:
        """Sleep for ``simulated_s`` simulated seconds."""
        await asyncio.sleep(self.real(simulated_s))

    async def wait(self, event: asyncio.Event, simulated_s: float) -> bool:
        """Sleep ``simulated_s`` simulated seconds unless ``event`` is set first; returns whether it was set."""
        if event.is_set():
            return True
        try:
            await asyncio.wait_for(event.wait(), self.real(simulated_s))
        except TimeoutError:
            return False
        return True
