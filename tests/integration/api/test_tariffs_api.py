"""PUT/GET /api/v1/tariffs: OCPI tariffs, versioned, idempotent, with the failing field named on 422."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from voltbill.adapters.store.tables.registry import TariffVersion
from voltbill.services import registry


def _versions(app: FastAPI, tariff_id: str) -> int:
    with app.state.db.uow() as uow:
        return uow.session.scalar(select(func.count()).where(TariffVersion.tariff_id == tariff_id)) or 0


async def test_new_tariff_answers_201_and_the_stored_ocpi_tariff(api: httpx.AsyncClient, bodies: Any) -> None:
    r = await api.put("/api/v1/tariffs/AC-STD", json=bodies.tariff(0.25, type="REGULAR"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] == "AC-STD"
    assert body["currency"] == "EUR"
    assert body["type"] == "REGULAR"
    assert body["elements"][0]["price_components"][0]["price"] == "0.25"
    assert body["last_updated"].endswith("Z")
    assert (await api.get("/api/v1/tariffs/AC-STD")).json() == body


async def test_replaying_the_same_tariff_answers_200_and_stores_no_new_version(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    first = await api.put("/api/v1/tariffs/AC-STD", json=bodies.tariff())
    replay = await api.put("/api/v1/tariffs/AC-STD", json=bodies.tariff())
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert _versions(api_app, "AC-STD") == 1


async def test_a_changed_tariff_is_a_new_version_and_sessions_keep_the_version_of_their_start(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    v1 = (await api.put("/api/v1/tariffs/AC-STD", json=bodies.tariff("0.25"))).json()
    r = await api.put("/api/v1/tariffs/AC-STD", json=bodies.tariff("0.30"))
    assert r.status_code == 200
    v2 = r.json()
    assert _versions(api_app, "AC-STD") == 2
    listed = (await api.get("/api/v1/tariffs/AC-STD/versions")).json()
    assert [(v["version"], v["tariff"]["elements"]) for v in listed] == [(1, v1["elements"]), (2, v2["elements"])]
    assert listed[0]["valid_from"] < listed[1]["valid_from"]
    assert (await api.get("/api/v1/tariffs/AC-STD")).json()["elements"] == v2["elements"]
    with api_app.state.db.uow() as uow:
        first = registry.tariff_versions(uow, "default", "AC-STD")
        at_v1 = first[0].valid_from + (first[1].valid_from - first[0].valid_from) / 2
        old = registry.tariff_at(uow, "AC-STD", at_v1)
        new = registry.tariff_at(uow, "AC-STD", first[1].valid_from + timedelta(seconds=1))
        before_upload = registry.tariff_at(uow, "AC-STD", first[0].valid_from - timedelta(days=1))
    assert str(old.elements[0].price_components[0].price) == v1["elements"][0]["price_components"][0]["price"]
    assert str(new.elements[0].price_components[0].price) == "0.30"
    assert before_upload.elements == old.elements


async def test_an_invalid_tariff_answers_422_naming_the_failing_field(api: httpx.AsyncClient, bodies: Any) -> None:
    body = bodies.tariff()
    body["elements"][0]["price_components"][0]["step_size"] = "one"
    r = await api.put("/api/v1/tariffs/BAD", json=body)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input"
    assert r.json()["field"] == "$.elements[0].price_components[0].step_size"
    assert (await api.get("/api/v1/tariffs/BAD")).status_code == 404


async def test_a_body_id_that_differs_from_the_url_is_refused(api: httpx.AsyncClient, bodies: Any) -> None:
    r = await api.put("/api/v1/tariffs/A", json=bodies.tariff(id="B"))
    assert r.status_code == 422
    assert r.json()["field"] == "$.id"


async def test_a_body_that_is_not_json_answers_422(api: httpx.AsyncClient, bodies: Any) -> None:
    r = await api.put("/api/v1/tariffs/A", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json() == {"code": "invalid_input", "message": "the request body is not valid JSON.", "field": "$"}


async def test_prices_sent_as_json_numbers_are_stored_exactly(api: httpx.AsyncClient, bodies: Any) -> None:
    raw = b'{"currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": 0.1, "step_size": 60}]}]}'
    r = await api.put("/api/v1/tariffs/T", content=raw, headers={"Content-Type": "application/json"})
    assert r.json()["elements"][0]["price_components"][0]["price"] == "0.1"


async def test_tariffs_list_the_newest_version_of_each_tariff_page_by_page(api: httpx.AsyncClient, bodies: Any) -> None:
    for tariff_id in ("T3", "T1", "T2"):
        await api.put(f"/api/v1/tariffs/{tariff_id}", json=bodies.tariff())
    await api.put("/api/v1/tariffs/T1", json=bodies.tariff("0.99"))
    first = (await api.get("/api/v1/tariffs", params={"limit": 2})).json()
    assert [t["id"] for t in first["items"]] == ["T1", "T2"]
    assert first["items"][0]["elements"][0]["price_components"][0]["price"] == "0.99"
    second = (await api.get("/api/v1/tariffs", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [t["id"] for t in second["items"]] == ["T3"]
    assert second["next_cursor"] is None
