"""PUT/GET /api/v1/drivers and their id tokens, and how a charger's Authorize is answered."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from voltbill.services import registry


async def test_a_new_driver_answers_201_and_a_replaced_one_200(api: httpx.AsyncClient, bodies: Any) -> None:
    first = await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    assert first.status_code == 201
    assert first.json() == {**bodies.driver(), "id": "D-1", "billing_address": None, "locale": None}
    address = {"street": "Kade 1", "city": "Amsterdam", "country": "NLD"}
    second = await api.put("/api/v1/drivers/D-1", json=bodies.driver(payment_method="invoice", billing_address=address))
    assert second.status_code == 200
    assert (await api.get("/api/v1/drivers/D-1")).json()["billing_address"] == address


async def test_an_unknown_payment_method_is_refused_by_name(api: httpx.AsyncClient, bodies: Any) -> None:
    r = await api.put("/api/v1/drivers/D-1", json=bodies.driver(payment_method="cash"))
    assert r.status_code == 422
    assert r.json()["field"] == "$.payment_method"


async def test_tokens_are_registered_per_driver_and_answer_authorize(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    await api.put("/api/v1/drivers/D-1", json=bodies.driver(payment_method="card"))
    r = await api.put("/api/v1/drivers/D-1/tokens/04A2B3C4", json={"type": "RFID"})
    assert r.status_code == 201
    assert r.json() == {"uid": "04A2B3C4", "driver_id": "D-1", "type": "RFID", "status": "valid"}
    assert (await api.put("/api/v1/drivers/D-1/tokens/04A2B3C4", json={"type": "RFID"})).status_code == 200
    await api.put("/api/v1/drivers/D-1/tokens/LOST01", json={"type": "RFID", "status": "blocked"})
    with api_app.state.db.uow() as uow:
        accepted = registry.authorize_id_token(uow, "04A2B3C4")
        blocked = registry.authorize_id_token(uow, "LOST01")
        unknown = registry.authorize_id_token(uow, "NEVER-SEEN")
    assert (accepted.status, accepted.driver_id, accepted.payment_method) == ("Accepted", "D-1", "card")
    assert blocked.status == "Blocked"
    assert (unknown.status, unknown.driver_id) == ("Unknown", None)
    listed = (await api.get("/api/v1/drivers/D-1/tokens")).json()
    assert [t["uid"] for t in listed["items"]] == ["04A2B3C4", "LOST01"]
    assert (await api.get("/api/v1/drivers/D-1/tokens/LOST01")).json()["status"] == "blocked"


async def test_a_token_for_an_unknown_driver_answers_404(api: httpx.AsyncClient) -> None:
    r = await api.put("/api/v1/drivers/NOBODY/tokens/ABC", json={"type": "RFID"})
    assert r.status_code == 404
    assert r.json()["code"] == "driver_not_found"


async def test_an_unknown_token_type_names_the_field(api: httpx.AsyncClient, bodies: Any) -> None:
    await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    r = await api.put("/api/v1/drivers/D-1/tokens/ABC", json={"type": "EMAID"})
    assert r.status_code == 422
    assert r.json()["field"] == "$.type"


async def test_drivers_list_in_pages_of_the_requested_size(api: httpx.AsyncClient, bodies: Any) -> None:
    for n in range(5):
        await api.put(f"/api/v1/drivers/D-{n}", json=bodies.driver())
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/api/v1/drivers", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"D-{n}" for n in range(5)]
