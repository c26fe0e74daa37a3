"""The operator dashboard and the driver pages in a real browser against a seeded server."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import httpx
import pytest
from browsing import API_KEY, Browsing, SeededServer
from playwright.sync_api import expect
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from voltbill.adapters.store.db import Database
from voltbill.demo import catalog
from voltbill.demo.seed import charger_password
from voltbill.services import invoicing

pytestmark = pytest.mark.browser

OPERATOR_PAGES = {
    "/dashboard": "Overview",
    "/dashboard/stations": "Stations",
    "/dashboard/sessions": "Sessions",
    "/dashboard/sessions?status=completed": "Sessions",
    "/dashboard/cdrs": "Charge detail records",
    "/dashboard/invoices": "Invoices",
    "/dashboard/drivers": "Drivers",
    "/dashboard/tariffs": "Tariffs",
    "/dashboard/tariffs/deu-ac": "Tariff deu-ac",
    "/dashboard/anomalies": "Anomalies",
    "/dashboard/analytics": "Analytics",
    "/dashboard/analytics/what-if?tariff_id=deu-dc&days=30": "Tariff what-if",
}


def _invoice_numbers(server: SeededServer, driver_id: str) -> list[str]:
    db = Database(server.settings.database_url)
    try:
        with db.uow() as uow:
            items, _ = invoicing.list_invoices(uow, catalog.OPERATOR_ID, driver_id=driver_id, limit=5)
        return [str(i.number) for i in items]
    finally:
        db.dispose()


def test_signing_in_leads_to_the_overview_and_every_operator_page_renders_accessibly_without_errors(
    browsing: Browsing,
) -> None:
    browsing.open("/dashboard")  # not signed in: the login form answers
    expect(browsing.page.get_by_role("heading", name="Sign in to voltbill")).to_be_visible()
    assert browsing.accessibility_problems() == [], "/login"
    browsing.login(catalog.ADMIN_EMAIL)
    assert browsing.page.url.endswith("/dashboard")
    for path, heading in OPERATOR_PAGES.items():
        browsing.open(path)
        expect(browsing.page.get_by_role("heading", level=1)).to_have_text(heading)
        browsing.screenshot("operator" + path)
        assert browsing.accessibility_problems() == [], path
    browsing.assert_no_errors()


@pytest.mark.parametrize(("path", "charts"), [("/dashboard", 3), ("/dashboard/analytics", 4)])
def test_charts_are_drawn_on_a_canvas_with_a_size(browsing: Browsing, path: str, charts: int) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open(path)
    drawn = browsing.page.locator("figure.chart[data-drawn='true']")
    expect(drawn).to_have_count(charts)
    for n in range(charts):
        box = drawn.nth(n).locator("canvas").first.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100
    browsing.assert_no_errors()


def test_a_tariff_edited_in_the_browser_is_what_the_rest_api_returns(
    browsing: Browsing, seeded_server: SeededServer
) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/tariffs/nld-ac")
    body = json.loads(browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").input_value())
    body["elements"][1]["price_components"][0]["price"] = "0.4321"
    browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").fill(json.dumps(body, indent=2))
    browsing.page.get_by_role("button", name="Save tariff").click()
    expect(browsing.page.get_by_role("status")).to_contain_text("Saved as version 2")
    browsing.screenshot("tariff saved")

    api = httpx.get(f"{seeded_server.base_url}/api/v1/tariffs/nld-ac", headers={"Authorization": f"Bearer {API_KEY}"})
    assert api.status_code == 200
    assert api.json()["elements"][1]["price_components"][0]["price"] in ("0.4321", 0.4321)
    browsing.assert_no_errors()


def test_an_invalid_tariff_is_refused_with_every_failing_field_named(browsing: Browsing) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/tariffs/deu-dc")
    body = json.loads(browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").input_value())
    body["currency"] = "EURO"
    body["elements"][0]["price_components"][0]["price"] = "cheap"
    browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").fill(json.dumps(body))
    browsing.page.get_by_role("button", name="Save tariff").click()
    errors = browsing.page.get_by_role("alert")
    expect(errors).to_contain_text("$.currency")
    expect(errors).to_contain_text("$.elements[0].price_components[0].price")
    expect(browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)")).to_have_attribute("aria-invalid", "true")
    browsing.screenshot("tariff errors")
    browsing.open("/dashboard/tariffs/deu-dc")
    expect(browsing.page.get_by_text(re.compile(r"Version 1,"))).to_be_visible()


def test_an_anomaly_marked_as_checked_leaves_the_open_list(browsing: Browsing) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/anomalies")
    buttons = browsing.page.get_by_role("button", name="Mark as checked")
    before = buttons.count()
    assert before > 0, "the demo history plants anomalies"
    buttons.first.click()
    expect(browsing.page.get_by_role("status")).to_contain_text("Marked as checked")
    expect(browsing.page.get_by_role("button", name="Mark as checked")).to_have_count(before - 1)
    browsing.assert_no_errors()


def test_a_driver_sees_their_sessions_and_invoices_but_not_another_drivers_invoice(
    browsing: Browsing, seeded_server: SeededServer
) -> None:
    me, other = catalog.drivers("small")[:2]
    mine, theirs = _invoice_numbers(seeded_server, me.id), _invoice_numbers(seeded_server, other.id)
    assert mine and theirs
    browsing.login(me.email)
    assert browsing.page.url.endswith("/driver")
    expect(browsing.page.get_by_role("heading", level=1)).to_have_text("My charging sessions")
    browsing.screenshot("driver sessions")
    assert browsing.accessibility_problems() == []
    browsing.open("/driver/invoices")
    expect(browsing.page.get_by_role("link", name=mine[0], exact=True)).to_be_visible()
    expect(browsing.page.get_by_text(theirs[0])).to_have_count(0)
    browsing.screenshot("driver invoices")
    assert browsing.accessibility_problems() == []
    browsing.open(f"/driver/invoices/{mine[0]}")
    pdf = browsing.page.request.get(f"{seeded_server.base_url}/driver/invoices/{mine[0]}/pdf?download=true")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
    browsing.screenshot("driver invoice")
    browsing.assert_no_errors()

    browsing.open(f"/driver/invoices/{theirs[0]}", status=404)
    expect(browsing.page.get_by_role("heading", level=1)).to_have_text("Not found")
    browsing.screenshot("driver other invoice")
    assert browsing.page.request.get(f"{seeded_server.base_url}/driver/invoices/{theirs[0]}/pdf").status == 404
    assert browsing.page.request.get(f"{seeded_server.base_url}/dashboard/invoices").status == 403


def test_the_station_board_shows_a_charger_fault_without_a_reload(
    browsing: Browsing, seeded_server: SeededServer
) -> None:
    charger = catalog.chargers("small")[0]
    assert charger.protocol == "ocpp1.6"
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/stations")
    row = browsing.page.get_by_role("row").filter(has_text=charger.id)
    expect(row).not_to_contain_text("Faulted")
    credentials = base64.b64encode(f"{charger.id}:{charger_password(charger.id)}".encode()).decode()
    ws_url = seeded_server.base_url.replace("http://", "ws://") + f"/ocpp/{charger.id}"
    with connect(
        ws_url, subprotocols=[Subprotocol("ocpp1.6")], additional_headers={"Authorization": f"Basic {credentials}"}
    ) as ws:
        ws.send(
            json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "Wallbe", "chargePointModel": "Pro"}])
        )
        assert json.loads(ws.recv(timeout=10))[0] == 3
        status = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted",
                  "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}  # fmt: skip
        ws.send(json.dumps([2, "status-1", "StatusNotification", status]))
        assert json.loads(ws.recv(timeout=10))[0] == 3
        expect(row).to_contain_text("Faulted", timeout=15_000)  # live.js swaps the board in every 5 s
        expect(row).to_contain_text("online")
    browsing.screenshot("stations live fault")
    browsing.assert_no_errors()


def test_a_new_tariff_created_in_the_browser_is_listed_with_its_description(browsing: Browsing) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/tariffs")
    browsing.page.get_by_role("link", name="New tariff").click()
    browsing.page.get_by_label("Tariff id").fill("night-owl")
    body = json.loads(browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").input_value())
    body["tariff_alt_text"] = [{"language": "en", "text": "Night owl: 0.25/kWh"}]
    browsing.page.get_by_label("OCPI 2.2.1 Tariff (JSON)").fill(json.dumps(body))
    browsing.page.get_by_role("button", name="Save tariff").click()
    expect(browsing.page.get_by_role("heading", level=1)).to_have_text("Tariff night-owl")
    expect(browsing.page.get_by_text("Saved as version 1.")).to_be_visible()
    expect(browsing.page.get_by_text("Saved with warnings")).to_be_visible()  # no country_code, party_id
    browsing.open("/dashboard/tariffs")
    expect(browsing.page.get_by_role("row").filter(has_text="night-owl")).to_contain_text("Night owl: 0.25/kWh")
    browsing.assert_no_errors()


def test_the_keyboard_reaches_the_skip_link_first_then_the_navigation(browsing: Browsing) -> None:
    browsing.login(catalog.ADMIN_EMAIL)
    browsing.open("/dashboard/stations")
    focused = browsing.page.locator(":focus")
    browsing.page.keyboard.press("Tab")
    expect(focused).to_have_text("Skip to content")
    for _ in range(3):  # the brand link, the sign-out button, then the first navigation link
        browsing.page.keyboard.press("Tab")
    expect(focused).to_have_text("Overview")
    browsing.open("/dashboard/stations")
    browsing.page.keyboard.press("Tab")
    browsing.page.keyboard.press("Enter")  # skip to the content: the next stop is inside <main>
    browsing.page.keyboard.press("Tab")
    assert browsing.page.evaluate("document.activeElement.closest('main') !== null")
