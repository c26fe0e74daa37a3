"""TariffRestrictions checked at a moment, and the wall-clock cuts that split periods (DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from voltbill.domain.pricing.restrictions import Boundaries, Moment, holds
from voltbill.domain.tariffs import TariffRestrictions, parse_tariff

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _at(local: datetime, elapsed_s: int = 0, kwh: str = "0", **caps: Decimal) -> Moment:
    return Moment(local, Decimal(elapsed_s), Decimal(kwh), **caps)


MONDAY_0930 = datetime(2025, 6, 2, 9, 30)


@pytest.mark.parametrize(
    ("restrictions", "moment", "expected"),
    [
        (TariffRestrictions(start_time=time(9), end_time=time(18)), _at(MONDAY_0930), True),
        (TariffRestrictions(start_time=time(9), end_time=time(18)), _at(datetime(2025, 6, 2, 18, 0)), False),
        (TariffRestrictions(start_time=time(22), end_time=time(6)), _at(datetime(2025, 6, 2, 23, 0)), True),
        (TariffRestrictions(start_time=time(22), end_time=time(6)), _at(datetime(2025, 6, 2, 5, 59)), True),
        (TariffRestrictions(start_time=time(22), end_time=time(6)), _at(datetime(2025, 6, 2, 6, 0)), False),
        (TariffRestrictions(start_time=time(20), end_time=time(0)), _at(datetime(2025, 6, 2, 23, 59)), True),
        (TariffRestrictions(end_time=time(0)), _at(datetime(2025, 6, 2, 23, 59)), True),
        (TariffRestrictions(start_date=date(2025, 6, 2)), _at(MONDAY_0930), True),
        (TariffRestrictions(end_date=date(2025, 6, 2)), _at(MONDAY_0930), False),
        (TariffRestrictions(day_of_week=("MONDAY",)), _at(MONDAY_0930), True),
        (TariffRestrictions(day_of_week=("SATURDAY", "SUNDAY")), _at(MONDAY_0930), False),
        (TariffRestrictions(min_kwh=Decimal(10)), _at(MONDAY_0930, kwh="10"), True),
        (TariffRestrictions(max_kwh=Decimal(10)), _at(MONDAY_0930, kwh="10"), False),
        (TariffRestrictions(min_duration=600), _at(MONDAY_0930, elapsed_s=600), True),
        (TariffRestrictions(max_duration=600), _at(MONDAY_0930, elapsed_s=600), False),
        (TariffRestrictions(min_current=Decimal(32)), _at(MONDAY_0930, min_current=Decimal(32)), True),
        (TariffRestrictions(min_current=Decimal(32)), _at(MONDAY_0930, max_current=Decimal(16)), False),
        (TariffRestrictions(max_current=Decimal(32)), _at(MONDAY_0930, max_current=Decimal(16)), True),
        (TariffRestrictions(max_current=Decimal(32)), _at(MONDAY_0930), False),
        (TariffRestrictions(min_power=Decimal(50)), _at(MONDAY_0930, max_power=Decimal(150)), True),
        (TariffRestrictions(max_power=Decimal(16)), _at(MONDAY_0930, max_power=Decimal(16)), False),
    ],
)
def test_each_restriction_holds_exactly_on_its_side_of_the_limit(
    restrictions: TariffRestrictions, moment: Moment, expected: bool
) -> None:
    assert holds(restrictions, moment) is expected


def _boundaries(*times: str) -> Boundaries:
    elements = [
        {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}], "restrictions": {"start_time": t}}
        for t in times
    ]
    return Boundaries.of(parse_tariff({"id": "b", "currency": "EUR", "elements": elements}))


def test_a_wall_clock_boundary_is_cut_at_its_utc_instant_on_both_sides_of_midnight() -> None:
    cuts = _boundaries("07:00").wall_clock_cuts(
        datetime(2025, 6, 1, 12, tzinfo=UTC), datetime(2025, 6, 3, 12, tzinfo=UTC), AMSTERDAM
    )
    # 07:00 CEST is 05:00Z; local midnight (22:00Z) is a cut too, as it ends a one-sided window.
    assert cuts == [
        datetime(2025, 6, 1, 22, tzinfo=UTC),
        datetime(2025, 6, 2, 5, tzinfo=UTC),
        datetime(2025, 6, 2, 22, tzinfo=UTC),
        datetime(2025, 6, 3, 5, tzinfo=UTC),
    ]


def test_on_the_spring_forward_sunday_a_boundary_in_the_skipped_hour_takes_effect_at_the_jump() -> None:
    # 2025-03-30 02:00 CET jumps to 03:00 CEST (01:00Z); 02:30 never happens on the wall clock.
    cuts = _boundaries("02:30").wall_clock_cuts(
        datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 3, tzinfo=UTC), AMSTERDAM
    )
    assert datetime(2025, 3, 30, 1, tzinfo=UTC) in cuts
    assert holds(TariffRestrictions(start_time=time(2, 30)), _at(datetime(2025, 3, 30, 3, 0)))


def test_on_the_fall_back_sunday_a_repeated_wall_time_is_cut_twice() -> None:
    # 2025-10-26 03:00 CEST falls back to 02:00 CET (01:00Z); 02:30 happens at 00:30Z and at 01:30Z.
    cuts = _boundaries("02:30").wall_clock_cuts(
        datetime(2025, 10, 25, 22, tzinfo=UTC), datetime(2025, 10, 26, 4, tzinfo=UTC), AMSTERDAM
    )
    assert datetime(2025, 10, 26, 0, 30, tzinfo=UTC) in cuts
    assert datetime(2025, 10, 26, 1, 30, tzinfo=UTC) in cuts
    assert datetime(2025, 10, 26, 1, 0, tzinfo=UTC) in cuts
