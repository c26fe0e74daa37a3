from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from analytics_data import START, clean_session, with_sessions

from voltbill.adapters.analytics.engine import Filters
from voltbill.adapters.analytics.peaks import busiest, peak_hours
from voltbill.adapters.analytics.schema import from_rows, make_input
from voltbill.adapters.analytics.usage import usage


def planted_evening_peak() -> list[dict]:
    """Five sessions every Tuesday of 12 weeks at 17:00-17:50 UTC, which is 18:xx in Berlin in winter."""
    tuesday = START + timedelta(days=1)
    return [
        clean_session(f"PEAK-{week}-{n}", start=tuesday + timedelta(weeks=week, hours=17, minutes=10 * n),
                      end_date_time=tuesday + timedelta(weeks=week, hours=17, minutes=10 * n + 40),
                      evse_id=f"CP-00001-{n % 4}-1", kwh=Decimal("8.00"), charging_seconds=2400)
        for week in range(12) for n in range(5)
    ]  # fmt: skip


def test_a_planted_evening_peak_is_the_busiest_local_weekday_hour(clean_input, engine_for) -> None:
    engine = engine_for(with_sessions(clean_input, planted_evening_peak()))

    cells = peak_hours(engine, Filters(location_id="LOC-00001"), per_location=True)
    top = busiest(cells)
    assert (top.location_id, top.weekday, top.hour) == ("LOC-00001", 2, 18)
    assert top.sessions >= 60
    by_energy = busiest(cells, by="energy_kwh")
    assert (by_energy.weekday, by_energy.hour) == (2, 18)


def test_energy_is_spread_over_the_local_hours_a_session_was_connected(engine_for) -> None:
    # 08:30-10:30 Berlin (07:30-09:30 UTC) on Monday 2025-01-13: 1/4 in 08h, 1/2 in 09h, 1/4 in 10h.
    start = datetime(2025, 1, 13, 7, 30, tzinfo=UTC)
    row = clean_session("S-1", start=start, end_date_time=start + timedelta(hours=2), kwh=Decimal("20.00"))
    engine = engine_for(make_input(sessions=from_rows("sessions", [row])))

    cells = {(c.weekday, c.hour): c for c in peak_hours(engine, Filters())}
    assert {k: round(c.energy_kwh, 6) for k, c in cells.items()} == {(1, 8): 5.0, (1, 9): 10.0, (1, 10): 5.0}
    assert cells[(1, 8)].sessions == 1
    assert cells[(1, 9)].mean_power_kw == pytest.approx(10.0)  # one Monday in the window


def test_utilisation_is_connected_time_over_the_window_per_evse(engine_for) -> None:
    sessions = [
        clean_session("S-1", start=datetime(2025, 3, 3, 8, tzinfo=UTC)),
        clean_session("S-2", start=datetime(2025, 3, 3, 10, tzinfo=UTC), charging_seconds=1800),
    ]
    evses = from_rows("evses", [
        {"evse_id": "CP-00001-0-1", "charge_point_id": "CP-00001-0", "connector_id": 1, "location_id": "LOC-00001",
         "max_power_kw": 22.0},
        {"evse_id": "CP-00001-1-1", "charge_point_id": "CP-00001-1", "connector_id": 1, "location_id": "LOC-00001",
         "max_power_kw": 22.0},
    ])  # fmt: skip
    status = from_rows("status_events", [
        {"evse_id": "CP-00001-1-1", "timestamp": datetime(2025, 3, 3, 9, tzinfo=UTC), "status": "Faulted"},
        {"evse_id": "CP-00001-1-1", "timestamp": datetime(2025, 3, 3, 9, 30, tzinfo=UTC), "status": "Available"},
    ])  # fmt: skip
    engine = engine_for(make_input(sessions=from_rows("sessions", sessions), evses=evses, status_events=status))
    window = Filters(start=datetime(2025, 3, 3, 8, tzinfo=UTC), end=datetime(2025, 3, 3, 12, tzinfo=UTC))

    by_evse = {row.key: row for row in usage(engine, window, by="evse")}
    assert by_evse["CP-00001-0-1"].sessions == 2
    assert by_evse["CP-00001-0-1"].kwh == Decimal("20.00")
    assert by_evse["CP-00001-0-1"].connected_hours == pytest.approx(2.0)
    assert by_evse["CP-00001-0-1"].charging_hours == pytest.approx(3000 / 3600 + 0.5)
    assert by_evse["CP-00001-0-1"].utilisation == pytest.approx(0.5)
    assert by_evse["CP-00001-1-1"].sessions == 0
    assert by_evse["CP-00001-1-1"].utilisation == 0
    assert by_evse["CP-00001-1-1"].unavailable_hours == pytest.approx(0.5)
    [location] = usage(engine, window, by="location")
    assert (location.key, location.evses, location.utilisation) == ("LOC-00001", 2, pytest.approx(0.25))


def test_daily_usage_counts_sessions_on_their_local_date(engine_for) -> None:
    # 23:30 UTC on 31 March is 01:30 on 1 April in Berlin (summer time).
    late = clean_session("S-1", start=datetime(2025, 3, 31, 23, 30, tzinfo=UTC))
    engine = engine_for(make_input(sessions=from_rows("sessions", [late])))
    assert [(r.key, r.sessions) for r in usage(engine, Filters(), by="day")] == [("2025-04-01", 1)]
    assert [r.key for r in usage(engine, Filters(), by="hour")] == ["01:00"]
    assert usage(engine, Filters(start=datetime(2025, 4, 1)), by="day")[0].sessions == 1
    assert usage(engine, Filters(start=datetime(2025, 4, 1, tzinfo=UTC)), by="day") == []


def test_local_time_follows_a_daylight_saving_change_within_the_day(engine_for) -> None:
    # Berlin moves from +01:00 to +02:00 at 01:00 UTC on 30 March 2025.
    before = clean_session("S-1", start=datetime(2025, 3, 30, 0, 30, tzinfo=UTC))
    after = clean_session("S-2", start=datetime(2025, 3, 30, 2, 0, tzinfo=UTC), evse_id="CP-00001-1-1")
    engine = engine_for(make_input(sessions=from_rows("sessions", [before, after])))
    assert [r.key for r in usage(engine, Filters(), by="hour")] == ["01:00", "04:00"]
