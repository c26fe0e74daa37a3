"""``CatchUpSchedule``: a scan for lost work runs at the first round, after a consumer failed, while the last scan
found work, and every ``every_s`` besides; never on every round."""

from __future__ import annotations

from typing import Any

import pytest

from voltbill.services.events import CatchUpSchedule, EventBus


class Scans:
    """A scan that finds what it is told to, and counts its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.finds = 0

    def __call__(self) -> int:
        self.runs += 1
        return self.finds


def test_a_scan_runs_at_the_first_round_then_only_when_something_may_have_been_lost() -> None:
    bus, now, scans = EventBus(), [0.0], Scans()
    schedule = CatchUpSchedule(bus, every_s=600, clock=lambda: now[0])

    def rounds(count: int, step_s: float = 5) -> int:
        before = scans.runs
        for _ in range(count):
            now[0] += step_s
            schedule.run(scans)
        return scans.runs - before

    assert rounds(1) == 1  # the first round: the process may have died with events unconsumed
    assert rounds(50) == 0  # nothing found, nothing failed: 250 s without a scan

    def failing(_event: dict[str, Any]) -> None:
        raise ConnectionError("the database went away")

    bus.subscribe("session.settled", failing)
    bus.publish("session.settled", {})
    assert bus.failures == 1
    assert rounds(3) == 1  # a consumer failed: the next round scans, once

    scans.finds = 200  # the scan after another failure finds a full batch: there may be more
    bus.publish("session.settled", {})
    assert rounds(3) == 3
    scans.finds = 0
    assert rounds(3) == 1  # the scan that found nothing is the last
    assert rounds(1, step_s=600) == 1  # and every 10 minutes besides


def test_a_scan_that_raised_is_due_again_at_the_next_round() -> None:
    schedule, scans = CatchUpSchedule(EventBus(), every_s=600, clock=lambda: 0.0), Scans()

    def down() -> int:
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        schedule.run(down)
    assert schedule.run(scans) == 0 and scans.runs == 1
