"""Meter curves of the charger simulator: physically plausible, never above the connector limit."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from voltbill.simulator.curves import AcCurve, DcCurve, Vehicle
from voltbill.simulator.stats import percentile

vehicles = st.builds(
    Vehicle,
    capacity_wh=st.floats(20_000, 120_000),
    soc_start=st.floats(0.0, 0.7),
    soc_target=st.floats(0.75, 1.0),
)


@settings(max_examples=60, deadline=None)
@given(vehicle=vehicles, limit_kw=st.floats(3.7, 22), step_s=st.floats(1, 900), kind=st.sampled_from(["ac", "dc"]))
def test_register_is_monotone_and_power_never_exceeds_the_connector_limit(
    vehicle: Vehicle, limit_kw: float, step_s: float, kind: str
) -> None:
    limit_w = limit_kw * 1000 if kind == "ac" else limit_kw * 10_000
    curve = (AcCurve if kind == "ac" else DcCurve)(vehicle, limit_w, register_start_wh=1_000_000)
    previous = curve.reading()
    for _ in range(200):
        reading = curve.advance(step_s)
        assert reading.energy_wh >= previous.energy_wh
        assert 0 <= reading.power_w <= limit_w
        assert reading.current_a >= 0
        assert reading.soc >= previous.soc
        previous = reading


def test_a_session_delivers_exactly_the_energy_between_arrival_and_departure_charge() -> None:
    vehicle = Vehicle(capacity_wh=60_000, soc_start=0.2, soc_target=0.8)
    curve = AcCurve(vehicle, 11_000, register_start_wh=500_000)
    for _ in range(10_000):
        if curve.full:
            break
        curve.advance(60)
    assert curve.full
    assert abs(curve.reading().energy_wh - 536_000) < 0.1
    assert curve.reading().power_w == 0


def test_ac_charging_is_flat_at_the_limit_then_tapers_near_full() -> None:
    curve = AcCurve(Vehicle(capacity_wh=60_000, soc_start=0.3, soc_target=1.0), 11_000, 0)
    assert curve.advance(600).power_w == 11_000
    assert round(curve.current_at(11_000, 0.5), 1) == 15.9  # 16 A per phase at 3 x 230 V
    assert curve.power_at(0.97, 0) < 5_000


def test_dc_charging_is_constant_current_then_decays_in_constant_voltage() -> None:
    curve = DcCurve(Vehicle(capacity_wh=77_000, soc_start=0.1, soc_target=1.0), 150_000, 0)
    cc = curve.power_at(0.5, elapsed_s=300)
    assert cc == 150_000
    assert curve.power_at(0.85, elapsed_s=300) < 0.5 * cc
    assert curve.power_at(0.98, elapsed_s=300) < 0.1 * cc
    assert curve.power_at(0.5, elapsed_s=0) < cc  # ramp-up while car and charger negotiate


def test_random_vehicles_arrive_empty_and_leave_fuller() -> None:
    rng = random.Random(7)
    for _ in range(100):
        vehicle = Vehicle.random(rng)
        assert 0 < vehicle.soc_start < vehicle.soc_target <= 1


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.99) == 0
