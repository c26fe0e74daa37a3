"""PUT/GET /api/v1/charge-points: chargers with an argon2-hashed password, a tariff and a validated location."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from voltbill.adapters.store.tables.registry import ChargePoint
from voltbill.services import registry


async def test_a_new_charge_point_answers_201_and_never_returns_its_password(
    api: httpx.AsyncClient, bodies: Any
) -> None:
    await api.put("/api/v1/tariffs/AC", json=bodies.tariff())
    r = await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point("AC"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] == "CP-1"
    assert body["tariff_id"] == "AC"
    assert body["password_set"] is True
    assert "password" not in body and "password_hash" not in body
    assert body["location"]["country"] == "NLD"
    assert body["location"]["coordinates"] == {"latitude": "52.37404", "longitude": "4.91422"}
    assert body["location"]["time_zone"] == "Europe/Amsterdam"
    assert (await api.get("/api/v1/charge-points/CP-1")).json() == body


async def test_the_password_is_stored_as_an_argon2_hash_and_verifies(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point())
    with api_app.state.db.uow() as uow:
        stored = uow.session.scalars(select(ChargePoint.password_hash)).one()
        assert stored is not None and stored.startswith("$argon2id$")
        assert registry.verify_charger_password(uow, "CP-1", "ocpp-password-0123")
        assert not registry.verify_charger_password(uow, "CP-1", "wrong-password-0123")
        assert not registry.verify_charger_password(uow, "CP-1", None)
        assert not registry.verify_charger_password(uow, "CP-UNKNOWN", "ocpp-password-0123")


async def test_replacing_a_charge_point_answers_200_and_a_new_password_replaces_the_old_one(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point())
    with api_app.state.db.uow() as uow:
        assert registry.verify_charger_password(uow, "CP-1", "ocpp-password-0123")
    r = await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point(password="new-password-45678"))
    assert r.status_code == 200
    with api_app.state.db.uow() as uow:
        assert not registry.verify_charger_password(uow, "CP-1", "ocpp-password-0123")
        assert registry.verify_charger_password(uow, "CP-1", "new-password-45678")


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"country": "NL"}, "$.location.country"),
        ({"country": "XYZ"}, "$.location.country"),
        ({"time_zone": "Europe/Atlantis"}, "$.location.time_zone"),
        ({"coordinates": {"latitude": "52.3", "longitude": "4.91422"}}, "$.location.coordinates.latitude"),
        ({"coordinates": {"latitude": "52.37404", "longitude": 4.91422}}, "$.location.coordinates.longitude"),
        ({"coordinates": {"latitude": "91.00000", "longitude": "4.91422"}}, "$.location.coordinates.latitude"),
        ({"city": ""}, "$.location.city"),
    ],
)
async def test_an_invalid_location_answers_422_naming_the_field(
    api: httpx.AsyncClient, bodies: Any, location: dict[str, Any], field: str
) -> None:
    body = bodies.charge_point()
    body["location"].update(location)
    r = await api.put("/api/v1/charge-points/CP-1", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    assert r.json()["field"] == field
    assert (await api.get("/api/v1/charge-points/CP-1")).status_code == 404


async def test_a_charge_point_cannot_reference_an_unknown_tariff(api: httpx.AsyncClient, bodies: Any) -> None:
    r = await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point("NOPE"))
    assert r.status_code == 422
    assert r.json()["code"] == "tariff_not_found"
    assert r.json()["field"] == "$.tariff_id"


async def test_the_ocpp_layer_reads_the_charge_point_with_its_time_zone_and_tariff(
    api: httpx.AsyncClient, api_app: FastAPI, bodies: Any
) -> None:
    await api.put("/api/v1/tariffs/AC", json=bodies.tariff())
    await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point("AC"))
    with api_app.state.db.uow() as uow:
        info = registry.get_charge_point(uow, "CP-1")
    assert info is not None
    assert (info.operator_id, info.tariff_id, info.time_zone) == ("default", "AC", "Europe/Amsterdam")
    assert info.location["city"] == "Amsterdam"


async def test_charge_points_at_the_same_address_share_one_location(api: httpx.AsyncClient, bodies: Any) -> None:
    a = (await api.put("/api/v1/charge-points/CP-A", json=bodies.charge_point())).json()
    b = (await api.put("/api/v1/charge-points/CP-B", json=bodies.charge_point())).json()
    assert a["location"]["id"] == b["location"]["id"]


async def test_charge_points_list_in_pages(api: httpx.AsyncClient, bodies: Any) -> None:
    for cp in ("CP-3", "CP-1", "CP-2"):
        await api.put(f"/api/v1/charge-points/{cp}", json=bodies.charge_point(password=None))
    first = (await api.get("/api/v1/charge-points?limit=2")).json()
    second = (await api.get(f"/api/v1/charge-points?limit=2&cursor={first['next_cursor']}")).json()
    assert [c["id"] for c in first["items"] + second["items"]] == ["CP-1", "CP-2", "CP-3"]
    assert second["next_cursor"] is None
    assert first["items"][0]["password_set"] is False
