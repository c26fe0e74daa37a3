"""Charging periods from raw meter data and from CDR JSON; live cost equals the final CDR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from voltbill.domain.errors import InvalidInput
from voltbill.domain.pricing.periods import (
    CdrDimension,
    ConnectorState,
    MeterSample,
    SessionToPrice,
    build_charging_periods,
    read_session,
)
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.tariffs import parse_tariff

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TARIFF = parse_tariff(
    {
        "id": "live",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": "0.35", "vat": 21, "step_size": 1}]},
            {
                "price_components": [{"type": "ENERGY", "price": "0.45", "vat": 21, "step_size": 100}],
                "restrictions": {"start_time": "09:00", "end_time": "12:00"},
            },
            {
                "price_components": [
                    {"type": "ENERGY", "price": "0.30", "vat": 21, "step_size": 100},
                    {"type": "PARKING_TIME", "price": "3.00", "vat": 21, "step_size": 300},
                ]
            },
        ],
    }
)


def _minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


SAMPLES = [
    MeterSample(_minutes(0), Decimal(12_000), power_w=Decimal(7_000), current_a=Decimal(30)),
    MeterSample(_minutes(30), Decimal(15_500), power_w=Decimal(7_400), current_a=Decimal(32)),
    MeterSample(_minutes(90), Decimal(22_000), power_w=Decimal(6_100), current_a=Decimal(27)),
    MeterSample(_minutes(120), Decimal(22_000), power_w=Decimal(0), current_a=Decimal(0)),
]
STATES = [ConnectorState(_minutes(0), True), ConnectorState(_minutes(90), False)]


def test_periods_follow_the_charging_state_with_interpolated_energy() -> None:
    periods = build_charging_periods(_minutes(0), _minutes(120), SAMPLES, STATES)

    assert [p.start_date_time for p in periods] == [_minutes(0), _minutes(90)]
    charging, parked = periods
    assert charging.volume("ENERGY") == Decimal(10)
    assert charging.volume("TIME") == Decimal("1.5")
    assert charging.volume("MAX_POWER") == Decimal("7.4")
    assert charging.volume("MAX_CURRENT") == Decimal(32)
    assert parked.volume("PARKING_TIME") == Decimal("0.5")
    assert parked.volume("TIME") is None
    assert parked.volume("ENERGY") == 0


def test_energy_between_samples_is_interpolated_linearly() -> None:
    states = [ConnectorState(_minutes(0), True), ConnectorState(_minutes(15), False)]
    periods = build_charging_periods(_minutes(0), _minutes(30), SAMPLES, states)
    assert periods[0].volume("ENERGY") == Decimal("1.75")


def test_a_zero_length_session_has_one_empty_charging_period() -> None:
    periods = build_charging_periods(T0, T0, [], [])
    assert periods[0].dimensions == (CdrDimension("ENERGY", Decimal(0)), CdrDimension("TIME", Decimal(0)))


def test_a_session_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput):
        build_charging_periods(_minutes(10), _minutes(0), [], [])


def test_the_final_cdr_equals_the_last_live_cost_for_the_same_data() -> None:
    live_costs = []
    for now in range(5, 121, 5):
        samples = [s for s in SAMPLES if s.timestamp <= _minutes(now)]
        states = [s for s in STATES if s.timestamp <= _minutes(now)]
        periods = build_charging_periods(_minutes(0), _minutes(now), samples, states)
        live = price_session(TARIFF, SessionToPrice(_minutes(0), _minutes(now), tuple(periods)), AMSTERDAM)
        live_costs.append(live.total_cost)

    final_periods = build_charging_periods(_minutes(0), _minutes(120), SAMPLES, STATES)
    final_session = SessionToPrice(_minutes(0), _minutes(120), tuple(final_periods))
    final = price_session(TARIFF, final_session, AMSTERDAM)
    cdr = build_cdr(final, TARIFF, final_session, cdr_id="c")

    assert final.total_cost == live_costs[-1]
    assert live_costs == sorted(live_costs, key=lambda price: price.excl_vat)
    # 10:00 local starts the 09:00-12:00 energy price: 08:00Z is 10:00 in Amsterdam (CEST).
    assert cdr["total_energy_cost"] == {"excl_vat": "4.5000", "incl_vat": "5.4450"}
    assert cdr["total_parking_cost"] == {"excl_vat": "1.5000", "incl_vat": "1.8150"}


def _cdr(**changes: Any) -> dict[str, Any]:
    cdr: dict[str, Any] = {
        "start_date_time": "2025-06-02T08:00:00Z",
        "end_date_time": "2025-06-02T09:00:00Z",
        "charging_periods": [
            {"start_date_time": "2025-06-02T08:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 5}]}
        ],
    }
    cdr.update(changes)
    return cdr


def test_a_cdr_json_is_read_into_a_session_ignoring_its_totals() -> None:
    session = read_session(_cdr(total_cost={"excl_vat": 999}))
    assert session.end_date_time - session.start_date_time == timedelta(hours=1)
    assert session.charging_periods[0].volume("ENERGY") == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_date_time": "2025-06-02T07:00:00Z"}, "$.end_date_time"),
        ({"start_date_time": None}, "$.start_date_time"),
        ({"charging_periods": []}, "$.charging_periods"),
        (
            {
                "charging_periods": [
                    {"start_date_time": "2025-06-02T08:00:00Z", "dimensions": [{"type": "KWH", "volume": 1}]}
                ]
            },
            "$.charging_periods[0].dimensions[0].type",
        ),
        (
            {
                "charging_periods": [
                    {"start_date_time": "2025-06-02T08:00:00Z", "dimensions": [{"type": "TIME", "volume": -1}]}
                ]
            },
            "$.charging_periods[0].dimensions[0].volume",
        ),
        (
            {
                "charging_periods": [
                    {"start_date_time": "2025-06-02T07:00:00Z", "dimensions": [{"type": "TIME", "volume": 1}]}
                ]
            },
            "$.charging_periods[0].start_date_time",
        ),
        ({"end_date_time": "2027-06-02T07:00:00Z"}, "$.end_date_time"),
    ],
)
def test_an_invalid_cdr_is_refused_with_the_json_path_of_the_problem(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_session(_cdr(**change))
    assert caught.value.field == field
