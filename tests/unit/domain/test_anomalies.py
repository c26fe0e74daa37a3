from decimal import Decimal

import pytest

from voltbill.domain.anomalies import AnomalyKind, AnomalyRules, explain, power_limit, robust_z


def test_robust_z_score_scales_the_distance_from_the_median_by_the_mad() -> None:
    assert robust_z(30.0, median=10.0, mad=2.0) == pytest.approx(0.6745 * 20 / 2)


def test_robust_z_score_is_undefined_when_every_value_is_the_same() -> None:
    assert robust_z(5.0, median=5.0, mad=0.0) is None


def test_every_kind_has_a_reason_and_a_resolution() -> None:
    facts = {
        "kwh": "30", "metered_kwh": "10", "meter_start_wh": "1000", "meter_stop_wh": "900", "power_kw": "80",
        "measure": "peak", "limit": "what the connector can deliver, 22 kW", "total_cost": "2.5", "currency": "EUR",
        "hours": "72.0",
        "start_date_time": "2025-01-01T10:00:00+00:00", "captured_amount": "3.00", "other_session_id": "S-1",
        "seconds_apart": "30", "metric": "Energy (kWh)", "value": "200", "median": "20", "z": "12.1", "mad": "5",
    }  # fmt: skip
    for kind in AnomalyKind:
        anomaly = explain("S-2", kind, facts)
        assert anomaly.reason.endswith(".") and "{" not in anomaly.reason
        assert anomaly.resolution


def test_a_zero_energy_charge_names_the_amount_and_offers_a_credit_note() -> None:
    anomaly = explain("S-9", AnomalyKind.CHARGED_ZERO_ENERGY, {"total_cost": Decimal("2.50"), "currency": "EUR"})
    assert anomaly.reason == "The session delivered 0 kWh but was charged 2.50 EUR."
    assert anomaly.creditable
    assert "credit note" in anomaly.resolution


def test_a_meter_going_backwards_is_not_resolved_by_a_credit_note() -> None:
    anomaly = explain("S-9", AnomalyKind.METER_BACKWARDS, {"meter_start_wh": "2000", "meter_stop_wh": "1000"})
    assert "2000 Wh at start to 1000 Wh at stop" in anomaly.reason
    assert not anomaly.creditable


def test_an_unknown_connector_rating_falls_back_to_the_most_a_public_charger_delivers() -> None:
    assert power_limit(Decimal(22), AnomalyRules()) == "what the connector can deliver, 22 kW"
    assert power_limit(None, AnomalyRules()).startswith("350 kW, the most a public charger delivers")
