"""The invoices REST API (CONTRACT.md) over HTTP against the real app: list, show, PDF, branding."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import facturx
import httpx
import pytest
from fastapi import FastAPI

from invoice_cdrs import make_cdr
from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import FixedClock
from voltbill.domain.invoices import session_invoice
from voltbill.services.invoicing import issue

KEY = "vb_invoices_admin_key_0123456789abcdef"
CLOCK = FixedClock(datetime(2026, 10, 5, 12, 0, tzinfo=UTC))


@pytest.fixture
def app(database_url: str) -> FastAPI:
    settings = Settings(database_url=database_url, api_key=KEY, _env_file=None)  # type: ignore[call-arg]
    application = create_app(settings)
    application.state.invoicing_worker.stop()  # the test drives every step itself
    return application


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client
    app.state.db.dispose()


def seed(app: FastAPI, cdr_id: str, driver_id: str) -> str:
    draft = session_invoice(
        make_cdr(cdr_id, "EUR", {"ENERGY": ("4.6026", "19")}), operator_id="default", driver_id=driver_id
    )
    with app.state.db.uow() as uow:
        issued = issue(uow, draft, source_key=cdr_id, buyer={"name": "Ana"}, locale="de", clock=CLOCK)
    return str(issued.invoice.number)


async def test_invoices_are_listed_shown_and_served_as_pdf(app: FastAPI, api: httpx.AsyncClient) -> None:
    first = seed(app, "c1", "ana")
    second = seed(app, "c2", "bob")
    page = (await api.get("/api/v1/invoices", params={"limit": 1})).json()
    assert [i["number"] for i in page["items"]] == [second]
    rest = (await api.get("/api/v1/invoices", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert ([i["number"] for i in rest["items"]], rest["next_cursor"]) == ([first], None)
    mine = (await api.get("/api/v1/invoices", params={"driver_id": "ana"})).json()["items"]
    assert [i["number"] for i in mine] == [first]

    body = (await api.get(f"/api/v1/invoices/{first}")).json()
    assert (body["number"], body["driver_id"], body["status"], body["cdr_ids"]) == (first, "ana", "issued", ["c1"])
    assert body["totals"] == {"excl_vat": "4.60", "vat": "0.88", "incl_vat": "5.48"}
    assert body["vat_breakdown"] == [{"rate": "19", "base": "4.60", "vat": "0.88"}]
    assert body["lines"][0]["dimension"] == "ENERGY"

    pdf = await api.get(f"/api/v1/invoices/{first}.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    _, xml = facturx.get_xml_from_pdf(pdf.content, check_xsd=False)
    assert first.encode() in xml
    again = await api.get(f"/api/v1/invoices/{first}.pdf")
    assert again.content == pdf.content  # rendered once, then served from the store

    missing = await api.get("/api/v1/invoices/VB-2026-999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "invoice_not_found")
    malformed = await api.get("/api/v1/invoices/12345")
    assert (malformed.status_code, malformed.json()["field"]) == (422, "number")


async def test_branding_is_set_over_rest_and_used_by_the_next_invoice(app: FastAPI, api: httpx.AsyncClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
    put = await api.put(
        "/api/v1/branding",
        json={"legal_name": "Harbour Charging BV", "color": "#123456", "invoice_prefix": "HC",
              "logo": base64.b64encode(svg).decode()},
    )  # fmt: skip
    assert put.status_code == 200
    assert (put.json()["legal_name"], put.json()["has_logo"], put.json()["logo_type"]) == (
        "Harbour Charging BV",
        True,
        "svg",
    )
    bad = await api.put("/api/v1/branding", json={"color": "red"})
    assert (bad.status_code, bad.json()["field"]) == (422, "color")
    number = seed(app, "c1", "ana")
    assert number == "HC-2026-000001"
    pdf = (await api.get(f"/api/v1/invoices/{number}.pdf")).content
    assert b"Harbour Charging BV" in facturx.get_xml_from_pdf(pdf, check_xsd=False)[1]


async def test_a_credit_note_is_issued_over_rest_and_a_second_one_is_refused(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    number = seed(app, "c1", "ana")
    credit = await api.post(f"/api/v1/invoices/{number}/credit-note")
    assert (credit.status_code, credit.json()["credits"], credit.json()["totals"]["incl_vat"]) == (201, number, "-5.48")
    again = await api.post(f"/api/v1/invoices/{number}/credit-note")
    assert (again.status_code, again.json()["code"]) == (409, "invoice_not_creditable")
