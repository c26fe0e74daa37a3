"""Properties of pricing (hypothesis): splitting periods, monotonicity, totals adding up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from voltbill.domain.price import Price
from voltbill.domain.pricing.periods import CdrDimension, ChargingPeriod, SessionToPrice
from voltbill.domain.pricing.pricer import PricedSession, price_session
from voltbill.domain.tariffs import Tariff, parse_tariff

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
FIXTURES = Path(__file__).parents[2] / "fixtures" / "tariffs"
TARIFFS = [parse_tariff(json.loads(p.read_text())) for p in sorted(FIXTURES.glob("*/tariff.json"))]
# Step sizes of 1 Wh / 1 s and no min/max price: the tariffs on which more energy or time can never cost less.
# (With coarse steps the spec's "step of the last component used" may bill the rounding at a lower price once a
# cheaper element starts, so a longer session can cost a fraction of a step less.)
FINE_STEP_TARIFFS = [
    t
    for t in TARIFFS
    if all(c.step_size <= 1 for e in t.elements for c in e.price_components) and not (t.min_price or t.max_price)
]
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)

segments = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=600),  # minutes
        st.decimals(min_value=0, max_value=60, places=3),  # kWh
        st.booleans(),  # charging
        st.sampled_from([None, Decimal(4), Decimal(11), Decimal(22), Decimal(50), Decimal(150)]),  # max power kW
    ),
    min_size=1,
    max_size=6,
)
starts = st.one_of(
    st.integers(min_value=0, max_value=365 * 24 * 60).map(lambda m: YEAR_START + timedelta(minutes=m)),
    st.sampled_from([datetime(2025, 3, 29, 22, tzinfo=UTC), datetime(2025, 10, 25, 21, tzinfo=UTC)]),
)


def _session(start: datetime, parts: list[tuple[int, Decimal, bool, Decimal | None]]) -> SessionToPrice:
    periods = []
    moment = start
    for minutes, kwh, charging, power in parts:
        hours = Decimal(minutes) / 60
        dims = [CdrDimension("ENERGY", kwh), CdrDimension("TIME" if charging else "PARKING_TIME", hours)]
        if power is not None:
            dims.append(CdrDimension("MAX_POWER", power))
        periods.append(ChargingPeriod(moment, tuple(dims)))
        moment += timedelta(minutes=minutes)
    return SessionToPrice(start, moment, tuple(periods))


def _split(session: SessionToPrice, index: int, at_minute: int) -> SessionToPrice:
    """The same session with period ``index`` cut in two after ``at_minute`` minutes (volumes shared by time)."""
    periods = list(session.charging_periods)
    period = periods[index]
    end = periods[index + 1].start_date_time if index + 1 < len(periods) else session.end_date_time
    total = Decimal((end - period.start_date_time) // timedelta(seconds=1))
    first_s = Decimal(at_minute * 60)
    first, second = [], []
    for d in period.dimensions:
        if d.type in ("ENERGY", "TIME", "PARKING_TIME"):
            part = d.volume * first_s / total
            first.append(CdrDimension(d.type, part))
            second.append(CdrDimension(d.type, d.volume - part))
        else:
            first.append(d)
            second.append(d)
    cut = ChargingPeriod(period.start_date_time + timedelta(minutes=at_minute), tuple(second))
    periods[index : index + 1] = [ChargingPeriod(period.start_date_time, tuple(first)), cut]
    return SessionToPrice(session.start_date_time, session.end_date_time, tuple(periods))


def _close(a: Price, b: Price) -> bool:
    tolerance = Decimal("0.0001")
    if (a.incl_vat is None) != (b.incl_vat is None):
        return False
    incl_ok = a.incl_vat is None or b.incl_vat is None or abs(a.incl_vat - b.incl_vat) <= tolerance
    return abs(a.excl_vat - b.excl_vat) <= tolerance and incl_ok


@settings(max_examples=150, deadline=None)
@given(tariff=st.sampled_from(TARIFFS), start=starts, parts=segments, data=st.data())
def test_splitting_a_period_in_two_never_changes_the_total_beyond_rounding(
    tariff: Tariff, start: datetime, parts: list[tuple[int, Decimal, bool, Decimal | None]], data: st.DataObject
) -> None:
    session = _session(start, parts)
    index = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    if parts[index][0] < 2:
        return
    at_minute = data.draw(st.integers(min_value=1, max_value=parts[index][0] - 1))

    whole = price_session(tariff, session, AMSTERDAM)
    split = price_session(tariff, _split(session, index, at_minute), AMSTERDAM)

    assert _close(whole.total_cost, split.total_cost), (whole.total_cost, split.total_cost)


@settings(max_examples=150, deadline=None)
@given(
    tariff=st.sampled_from(FINE_STEP_TARIFFS),
    start=starts,
    parts=segments,
    more_kwh=st.decimals(min_value=0, max_value=20, places=3),
    more_minutes=st.integers(min_value=0, max_value=240),
)
def test_more_energy_or_more_time_never_costs_less(
    tariff: Tariff,
    start: datetime,
    parts: list[tuple[int, Decimal, bool, Decimal | None]],
    more_kwh: Decimal,
    more_minutes: int,
) -> None:
    base = price_session(tariff, _session(start, parts), AMSTERDAM)
    minutes, kwh, charging, power = parts[-1]
    more_energy = [*parts[:-1], (minutes, kwh + more_kwh, charging, power)]
    # Longer at the same power: the original part of the period keeps its energy.
    scaled_kwh = kwh * (minutes + more_minutes) / minutes if minutes else kwh
    longer = [*parts[:-1], (minutes + more_minutes, scaled_kwh, charging, power)]

    for bigger in (more_energy, longer):
        priced = price_session(tariff, _session(start, bigger), AMSTERDAM)
        assert priced.total_cost.excl_vat >= base.total_cost.excl_vat - Decimal("1e-20")


def _dimension_sum(priced: PricedSession) -> Price:
    parts = [
        priced.total_fixed_cost,
        priced.total_energy_cost,
        priced.total_time_cost,
        priced.total_parking_cost,
        priced.total_reservation_cost,
    ]
    total = Price(Decimal(0), Decimal(0))
    for part in parts:
        if part is not None:
            total = total + part
    return total


@settings(max_examples=150, deadline=None)
@given(tariff=st.sampled_from(TARIFFS), start=starts, parts=segments)
def test_the_total_is_the_sum_of_the_dimension_costs_and_of_the_lines(
    tariff: Tariff, start: datetime, parts: list[tuple[int, Decimal, bool, Decimal | None]]
) -> None:
    priced = price_session(tariff, _session(start, parts), AMSTERDAM)
    lines = Price(Decimal(0), Decimal(0))
    for line in priced.lines:
        lines = lines + Price(line.cost.excl_vat, line.cost.incl_vat if line.cost.incl_vat is not None else None)
    adjustment = priced.limit_adjustment or Price(Decimal(0), Decimal(0))
    dims = _dimension_sum(priced)

    # Exact up to the 28th significant digit, where Decimal's default context rounds sums.
    tiny = Decimal("1e-18")
    assert abs(priced.total_cost.excl_vat - dims.excl_vat - adjustment.excl_vat) < tiny
    assert abs(priced.total_cost.excl_vat - lines.excl_vat - adjustment.excl_vat) < tiny
    if priced.total_cost.incl_vat is not None and dims.incl_vat is not None:
        assert abs(priced.total_cost.incl_vat - dims.incl_vat - (adjustment.incl_vat or 0)) < tiny
