from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from analytics_data import clean_session, with_sessions

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.adapters.analytics.revenue import revenue, totals
from voltbill.adapters.analytics.schema import from_rows, make_input


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("by", ["total", "location", "tariff", "payment_method"])
def test_revenue_sums_equal_the_input_sums_exactly(period, by, clean_input, engine_for) -> None:
    swiss = [clean_session(f"CHF-{n}", currency="CHF", total_cost_excl_vat=Decimal("7.1234"),
                           total_cost_incl_vat=Decimal("7.6789"), start=datetime(2025, 2, n + 1, 9, tzinfo=UTC))
             for n in range(5)]  # fmt: skip
    data = with_sessions(clean_input, swiss)
    rows = revenue(engine_for(data), Filters(), period=period, by=by)

    expected: dict[str, Decimal] = {}
    expected_incl: dict[str, Decimal] = {}
    for row in data.sessions.to_pylist():
        expected[row["currency"]] = expected.get(row["currency"], Decimal(0)) + row["total_cost_excl_vat"]
        expected_incl[row["currency"]] = expected_incl.get(row["currency"], Decimal(0)) + row["total_cost_incl_vat"]
    assert totals(rows) == expected
    incl: dict[str, Decimal] = {}
    for row in rows:
        incl[row.currency] = incl.get(row.currency, Decimal(0)) + row.revenue_incl_vat
    assert incl == expected_incl
    assert sum(r.sessions for r in rows) == data.sessions.num_rows


def test_growth_and_averages_compare_with_the_previous_period(engine_for) -> None:
    day1 = datetime(2025, 3, 3, 9, tzinfo=UTC)
    sessions = [
        clean_session("S-1", start=day1, total_cost_excl_vat=Decimal("10.00")),
        clean_session("S-2", start=day1 + timedelta(days=1), total_cost_excl_vat=Decimal("6.00")),
        clean_session("S-3", start=day1 + timedelta(days=1, hours=2), total_cost_excl_vat=Decimal("9.00"),
                      kwh=Decimal("20.00"), total_cost_incl_vat=None),
        clean_session("S-4", start=day1 + timedelta(days=3), total_cost_excl_vat=Decimal("1.00")),
    ]  # fmt: skip
    engine: AnalyticsEngine = engine_for(make_input(sessions=from_rows("sessions", sessions)))
    rows = revenue(engine, Filters(), period="day")

    assert [r.period_start for r in rows] == [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 6)]
    assert rows[0].growth_pct is None
    assert rows[1].growth_pct == pytest.approx(50.0)
    assert rows[2].growth_pct is None  # 5 March had no revenue
    assert rows[1].revenue_excl_vat == Decimal("15.00")
    assert rows[1].revenue_incl_vat is None  # one session lacks VAT information
    assert rows[1].per_kwh == Decimal("0.5000")
    assert rows[1].per_session == Decimal("7.5000")


def test_unpriced_sessions_bring_no_revenue(engine_for) -> None:
    unpriced = clean_session("S-1", currency=None, total_cost_excl_vat=None, total_cost_incl_vat=None)
    engine = engine_for(make_input(sessions=from_rows("sessions", [unpriced])))
    assert revenue(engine, Filters()) == []
