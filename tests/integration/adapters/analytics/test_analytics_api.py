import httpx
import pytest
from store_data import seed

from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import FixedClock

ADMIN_KEY = "vb_test_analytics_admin_key_0123456789"


@pytest.fixture
async def api(database_url):
    from store_data import NOW

    settings = Settings(database_url=database_url, api_key=ADMIN_KEY, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, clock=FixedClock(NOW))
    seed(app.state.db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client
    app.state.db.dispose()


async def test_the_analytics_api_answers_every_analysis_as_json_records_a_review_and_names_bad_input(api) -> None:
    bad_date = await api.get("/api/v1/analytics/usage", params={"from": "yesterday"})
    assert (bad_date.status_code, bad_date.json()["field"]) == (422, "from")
    bad_kind = await api.post("/api/v1/analytics/anomalies/S-ZERO/nonsense/check", json={})
    assert (bad_kind.status_code, bad_kind.json()["field"]) == (422, "kind")
    bad_tariff = await api.post("/api/v1/analytics/whatif", json={"tariff": {"currency": "EUR"}})
    assert bad_tariff.status_code == 422
    unauthenticated = await api.get("/api/v1/analytics/revenue", headers={"Authorization": ""})
    assert unauthenticated.status_code == 401
    revenue = (await api.get("/api/v1/analytics/revenue", params={"period": "month", "by": "location"})).json()
    assert revenue["items"] == [{
        "period_start": "2025-03-01", "key": "LOC-A", "currency": "EUR", "sessions": 3, "kwh": "20.0000",
        "revenue_excl_vat": "6.0000", "revenue_incl_vat": "7.1400", "per_kwh": "0.3000", "per_session": "2.0000",
        "growth_pct": None,
    }]  # fmt: skip
    usage = (await api.get("/api/v1/analytics/usage", params={"by": "evse", "from": "2025-03-03"})).json()
    assert [(u["key"], u["sessions"]) for u in usage["items"]] == [("CP-A-1", 4)]
    peaks = (await api.get("/api/v1/analytics/peaks", params={"location": "LOC-A"})).json()["items"]
    assert {(c["weekday"], c["hour"]) for c in peaks if c["sessions"]} >= {(1, 9), (2, 9), (3, 9)}
    placement = (await api.get("/api/v1/analytics/placement")).json()["items"]
    assert [(p["location_id"], p["evses"], p["exceeds_capacity"]) for p in placement] == [("LOC-A", 1, False)]
    areas = (await api.get("/api/v1/analytics/areas", params={"resolution": 5})).json()["items"]
    assert [a["locations"] for a in areas] == [1]

    anomalies = (await api.get("/api/v1/analytics/anomalies")).json()["items"]
    zero = next(a for a in anomalies if a["kind"] == "charged_zero_energy")
    assert zero["reason"] == "The session delivered 0 kWh but was charged 1.19 EUR."
    assert zero["creditable"] is True
    checked = await api.post("/api/v1/analytics/anomalies/S-ZERO/charged_zero_energy/check", json={"note": "flat fee"})
    assert checked.status_code == 200
    assert (checked.json()["status"], checked.json()["note"]) == ("checked", "flat fee")
    left = (await api.get("/api/v1/analytics/anomalies", params={"include_reviewed": "false"})).json()["items"]
    assert {a["session_id"] for a in left} == {"S-CAPTURE", "S-OPEN"}

    tariff = {
        "id": "NEW",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50", "vat": 19, "step_size": 1}]}],
    }
    whatif = (await api.post("/api/v1/analytics/whatif", json={"tariff": tariff, "days": 30})).json()
    assert whatif["rows"][-1] | {"change_pct": None} == {
        "key": "total", "sessions": 3, "currency": "EUR", "current_excl_vat": "6.0000",
        "proposed_excl_vat": "10.0000", "change": "4.0000", "change_pct": None,
    }  # fmt: skip
