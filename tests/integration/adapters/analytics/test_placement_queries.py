from datetime import UTC, datetime, timedelta

import pytest
from analytics_data import clean_session

from voltbill.adapters.analytics.engine import Filters
from voltbill.adapters.analytics.placement import area_demand, location_demand
from voltbill.adapters.analytics.schema import from_rows, make_input

T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)
WINDOW = Filters(start=T0, end=T0 + timedelta(hours=10))


def location(location_id: str, lat: float, lon: float) -> dict:
    return {"location_id": location_id, "name": location_id, "latitude": lat, "longitude": lon,
            "time_zone": "Europe/Berlin"}  # fmt: skip


def evse(location_id: str, n: int) -> dict:
    return {"evse_id": f"{location_id}-{n}", "charge_point_id": f"{location_id}-{n}", "connector_id": 1,
            "location_id": location_id, "max_power_kw": 22.0}  # fmt: skip


def session(session_id: str, location_id: str, evse_no: int, start: datetime, hours: float) -> dict:
    return clean_session(session_id, location_id=location_id, evse_id=f"{location_id}-{evse_no}",
                         charge_point_id=f"{location_id}-{evse_no}", start=start,
                         end_date_time=start + timedelta(hours=hours))  # fmt: skip


@pytest.fixture
def busy_and_quiet(engine_for):
    """BUSY has one EVSE used back to back (a driver waited 6 minutes) and two refused starts; QUIET, 300 m away,
    has two EVSEs and one session; FAR is in another city."""
    sessions = [
        session("A", "BUSY", 0, T0, 4),
        session("B", "BUSY", 0, T0 + timedelta(hours=4, minutes=6), 4),
        session("C", "BUSY", 0, T0 + timedelta(hours=8, minutes=30), 1),  # 22 min after B: not queued
        session("D", "QUIET", 0, T0, 1),
    ]
    refused = [{"charge_point_id": "BUSY-0", "location_id": "BUSY", "timestamp": T0 + timedelta(hours=n),
                "reason": "wallet balance below minimum"} for n in (1, 2)]  # fmt: skip
    data = make_input(
        sessions=from_rows("sessions", sessions),
        locations=from_rows("locations", [location("BUSY", 52.52, 13.405), location("QUIET", 52.5227, 13.405),
                                          location("FAR", 48.137, 11.575)]),
        evses=from_rows("evses", [evse("BUSY", 0), evse("QUIET", 0), evse("QUIET", 1), evse("FAR", 0)]),
        refused_starts=from_rows("refused_starts", refused),
    )  # fmt: skip
    return engine_for(data)


def test_locations_are_ranked_by_demand_with_queueing_and_refused_starts(busy_and_quiet) -> None:
    ranked = location_demand(busy_and_quiet, WINDOW, queue_minutes=15)

    assert [r.location_id for r in ranked] == ["BUSY", "QUIET", "FAR"]
    busy = ranked[0]
    assert (busy.sessions, busy.queued_sessions, busy.refused_starts) == (3, 1, 2)
    assert busy.queue_hours == pytest.approx(0.1)
    assert busy.utilisation == pytest.approx(0.9)
    assert busy.demand_hours == pytest.approx(9 + 0.1 + 2 * 3)  # mean session 3 h
    assert busy.exceeds_capacity
    assert ranked[1].utilisation == pytest.approx(0.05)
    assert not ranked[1].exceeds_capacity


def test_a_busy_location_next_to_a_quiet_one_is_no_area_short_of_capacity(busy_and_quiet) -> None:
    ranked = location_demand(busy_and_quiet, WINDOW)
    areas = area_demand(ranked, resolution=7, window_hours=10)

    assert [(a.locations, a.evses, a.sessions) for a in areas] == [(2, 3, 4), (1, 1, 0)]
    assert areas[0].demand_ratio == pytest.approx((9 + 0.1 + 6 + 1) / (3 * 10 * 0.8))
    assert not areas[0].exceeds_capacity
    assert areas[0].cell == "871f1d489ffffff"
