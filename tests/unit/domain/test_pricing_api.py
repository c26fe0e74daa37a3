"""The public pricing seam other areas call: parse, build periods, price, CDR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from voltbill.domain import json_text
from voltbill.domain.price import Price
from voltbill.domain.pricing.periods import ConnectorState, MeterSample, build_charging_periods
from voltbill.domain.pricing.pricer import SessionToPrice, price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.tariffs import parse_tariff

UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

TARIFF = {
    "country_code": "NL",
    "party_id": "VBL",
    "id": "t1",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1},
                {"type": "ENERGY", "price": "0.30", "vat": "21", "step_size": 1},
                {"type": "TIME", "price": "1.20", "vat": "21", "step_size": 60},
                {"type": "PARKING_TIME", "price": "6.00", "vat": "21", "step_size": 60},
            ]
        }
    ],
    "last_updated": "2025-01-01T00:00:00Z",
}


def test_a_session_built_from_meter_samples_is_priced_per_dimension() -> None:
    tariff = parse_tariff(TARIFF)
    end = T0 + timedelta(hours=2)
    samples = [
        MeterSample(T0, Decimal(1000), power_w=Decimal(11000)),
        MeterSample(T0 + timedelta(hours=1), Decimal(11000), power_w=Decimal(10000)),
        MeterSample(end, Decimal(11000)),
    ]
    states = [ConnectorState(T0, True), ConnectorState(T0 + timedelta(hours=1), False)]
    periods = build_charging_periods(T0, end, samples, states)
    session = SessionToPrice(T0, end, tuple(periods))

    priced = price_session(tariff, session, UTC_ZONE)

    assert priced.total_energy == Decimal(10)
    assert priced.total_energy_cost == Price(Decimal("3.00"), Decimal("3.6300"))
    assert priced.total_time_cost is not None and priced.total_time_cost.excl_vat == Decimal("1.20")
    assert priced.total_parking_cost is not None and priced.total_parking_cost.excl_vat == Decimal("6.00")
    assert priced.total_fixed_cost is not None and priced.total_fixed_cost.excl_vat == Decimal("0.50")
    assert priced.total_cost.excl_vat == Decimal("10.70")
    cdr = build_cdr(priced, tariff, session, cdr_id="cdr-1")
    assert cdr["total_cost"] == {"excl_vat": "10.7000", "incl_vat": "12.9470"}
    assert (
        json_text.dumps([cdr["total_energy"], cdr["total_time"], cdr["total_parking_time"]])
        == "[10.0000,2.0000,1.0000]"
    )
    assert cdr["tariffs"][0]["id"] == "t1"


def test_lines_are_one_per_dimension_price_and_vat_and_a_cdr_keeps_extra_fields() -> None:
    tariff = parse_tariff(TARIFF)
    end = T0 + timedelta(minutes=90)
    session = SessionToPrice(T0, end, tuple(build_charging_periods(T0, end, [], [])))

    priced = price_session(tariff, session, UTC_ZONE)
    cdr = build_cdr(priced, tariff, session, cdr_id="c", extra={"cdr_token": {"uid": "u"}, "total_cost": 1})

    assert sorted((line.dimension, line.volume) for line in priced.lines) == [("FLAT", 1), ("TIME", Decimal("1.5"))]
    time_line = next(line for line in priced.lines if line.dimension == "TIME")
    assert time_line.cost == Price(Decimal("1.80"), Decimal("2.1780"))
    assert cdr["cdr_token"] == {"uid": "u"}
    assert cdr["total_cost"] == {"excl_vat": "2.3000", "incl_vat": "2.7830"}
    assert cdr["total_energy_cost"] == {"excl_vat": "0.0000", "incl_vat": "0.0000"}


def test_a_tariff_without_vat_gives_prices_without_incl_vat() -> None:
    data = {**TARIFF, "elements": [{"price_components": [{"type": "FLAT", "price": "1", "step_size": 1}]}]}
    tariff = parse_tariff(data)
    session = SessionToPrice(T0, T0, tuple(build_charging_periods(T0, T0, [], [])))

    priced = price_session(tariff, session, UTC_ZONE)

    assert priced.total_cost == Price(Decimal(1), None)
    assert build_cdr(priced, tariff, session, cdr_id="c")["total_cost"] == {"excl_vat": "1.0000", "incl_vat": None}
