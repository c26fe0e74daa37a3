"""Fixtures: a generated clean data set and engines over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from analytics_data import NOW, START

from voltbill.adapters.analytics.engine import AnalyticsEngine
from voltbill.adapters.analytics.schema import AnalyticsInput
from voltbill.adapters.analytics.synthetic import generate_input


@pytest.fixture(scope="session")
def clean_input() -> AnalyticsInput:
    """4,000 clean sessions on 10 locations x 4 EVSEs over 90 days (100 per station)."""
    return generate_input(4000, locations=10, days=90, start=START)


@pytest.fixture
def engine_for() -> Iterator[Callable[[AnalyticsInput], AnalyticsEngine]]:
    engines: list[AnalyticsEngine] = []

    def build(data: AnalyticsInput) -> AnalyticsEngine:
        engine = AnalyticsEngine.from_input(data, now=NOW)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()
