from datetime import timedelta
from decimal import Decimal

import pytest
from analytics_data import NOW, START, clean_session, with_sessions

from voltbill.adapters.analytics.anomalies import find_anomalies
from voltbill.adapters.analytics.engine import Filters
from voltbill.domain.anomalies import AnomalyKind

PLANTED = {
    AnomalyKind.ENERGY_METER_MISMATCH: (
        [clean_session("P-ENERGY", kwh=Decimal("12.00"))],
        "Billed energy 12 kWh differs from the meter register difference 10 kWh",
    ),
    AnomalyKind.METER_BACKWARDS: (
        [clean_session("P-BACK", meter_start_wh=Decimal("2000000"), meter_stop_wh=Decimal("1999000"),
                       kwh=Decimal(0), total_cost_excl_vat=Decimal(0), total_cost_incl_vat=Decimal(0),
                       captured_amount=Decimal(0))],
        "from 2000000 Wh at start to 1999000 Wh at stop",
    ),
    AnomalyKind.IMPOSSIBLE_POWER: (
        [clean_session("P-POWER", max_power_kw=80.0)],
        "Power 80.00 kW (peak) exceeds what the connector can deliver, 22 kW.",
    ),
    AnomalyKind.CHARGED_ZERO_ENERGY: (
        [clean_session("P-ZERO", kwh=Decimal(0), meter_stop_wh=Decimal("1000000"), total_cost_excl_vat=Decimal("2.10"),
                       total_cost_incl_vat=Decimal("2.4990"), captured_amount=Decimal("2.50"))],
        "delivered 0 kWh but was charged 2.499 EUR",
    ),
    AnomalyKind.NEVER_STOPPED: (
        [clean_session("P-OPEN", start=NOW - timedelta(days=3), end_date_time=None, status="active", kwh=None,
                       meter_stop_wh=None, cdr_id=None, currency=None, total_cost_excl_vat=None,
                       total_cost_incl_vat=None, captured_amount=None, charging_seconds=None)],
        "was still not stopped after 72.0 h",
    ),
    AnomalyKind.CAPTURE_MISMATCH: (
        [clean_session("P-CAPTURE", captured_amount=Decimal("6.00"))],
        "The CDR total is 4.641 EUR but 6 EUR was captured.",
    ),
    AnomalyKind.DUPLICATE_SESSION: (
        [clean_session("P-DUP-1"), clean_session("P-DUP-2", start=START + timedelta(days=3, hours=9, seconds=40))],
        "Same EVSE and driver as session P-DUP-1, started 40 s apart with 10 kWh.",
    ),
    AnomalyKind.STATISTICAL_OUTLIER: (
        [clean_session("P-OUTLIER", charge_point_id="CP-00001-1", evse_id="CP-00001-1-1", connector_max_kw=50.0,
                       tariff_id="DC-FAST", kwh=Decimal("200.00"), meter_stop_wh=Decimal("1200000"),
                       end_date_time=START + timedelta(days=3, hours=15), charging_seconds=18000, max_power_kw=45.0,
                       total_cost_excl_vat=Decimal("118.5000"), total_cost_incl_vat=Decimal("141.0150"),
                       captured_amount=Decimal("141.02"))],
        "Energy (kWh) 200.00 is far from this station's median",
    ),
}  # fmt: skip


def test_a_clean_data_set_has_no_anomaly(clean_input, engine_for) -> None:
    assert find_anomalies(engine_for(clean_input), Filters()) == []


@pytest.mark.parametrize("kind", list(PLANTED), ids=[k.value for k in PLANTED])
def test_a_planted_anomaly_is_found_with_its_reason(kind, clean_input, engine_for) -> None:
    rows, expected_reason = PLANTED[kind]
    found = find_anomalies(engine_for(with_sessions(clean_input, rows)), Filters())

    assert {f.kind for f in found} == {kind}
    flagged = found[0]
    assert flagged.session_id == rows[-1]["session_id"]
    assert expected_reason in flagged.reason
    assert flagged.resolution


def test_a_capture_rounded_to_the_cent_is_no_mismatch(clean_input, engine_for) -> None:
    rounded = clean_session("P-CENT", total_cost_incl_vat=Decimal("4.6450"), captured_amount=Decimal("4.65"))
    exact = clean_session("P-EXACT", start=START + timedelta(days=9), captured_amount=Decimal("4.6410"))
    assert find_anomalies(engine_for(with_sessions(clean_input, [rounded, exact])), Filters()) == []


def test_anomalies_respect_the_location_filter(clean_input, engine_for) -> None:
    data = with_sessions(clean_input, PLANTED[AnomalyKind.ENERGY_METER_MISMATCH][0])
    engine = engine_for(data)
    assert [f.session_id for f in find_anomalies(engine, Filters(location_id="LOC-00001"))] == ["P-ENERGY"]
    assert find_anomalies(engine, Filters(location_id="LOC-00002")) == []


def test_power_beyond_any_public_charger_is_impossible_when_the_connector_rating_is_unknown(
    clean_input, engine_for
) -> None:
    # 341.6 kWh in 43 minutes: 477 kW on average.
    jump = clean_session("P-JUMP", connector_max_kw=None, max_power_kw=None, kwh=Decimal("341.60"),
                         meter_stop_wh=Decimal("1341600"), charging_seconds=2580)  # fmt: skip
    unknown_but_fine = clean_session("P-FINE", start=START + timedelta(days=20), connector_max_kw=None)
    found = find_anomalies(engine_for(with_sessions(clean_input, [jump, unknown_but_fine])), Filters())

    assert {f.session_id for f in found} == {"P-JUMP"}  # also an energy outlier at its station
    [power] = [f for f in found if f.kind == AnomalyKind.IMPOSSIBLE_POWER]
    assert power.reason.startswith("Power 476.65 kW (average) exceeds 350 kW, the most a public charger delivers")
