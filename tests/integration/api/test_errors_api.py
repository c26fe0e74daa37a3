"""Every error answers JSON with a stable code: auth, unknown routes, wrong methods, validation."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


async def test_no_api_key_answers_401_with_a_code(api_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        r = await anonymous.get("/api/v1/drivers")
        assert r.status_code == 401
        assert r.json()["code"] == "missing_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
        wrong = await anonymous.get("/api/v1/drivers", headers={"Authorization": "Bearer vb_not_a_real_key_at_all"})
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "invalid_api_key"
        basic = await anonymous.get("/api/v1/drivers", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401


async def test_an_unknown_route_and_a_wrong_method_answer_json(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await api.delete("/api/v1/drivers")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_an_unknown_record_answers_404_with_its_own_code(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/drivers/NOBODY")
    assert r.status_code == 404
    assert r.json() == {"code": "driver_not_found", "message": "driver NOBODY does not exist."}


async def test_validation_errors_list_every_failing_field(api: httpx.AsyncClient) -> None:
    r = await api.put("/api/v1/drivers/D-1", json={"email": "not-an-email", "payment_method": "cash"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_input"
    assert {e["field"] for e in body["errors"]} == {"$.name", "$.email", "$.payment_method"}
    assert body["field"] in {"$.name", "$.email", "$.payment_method"}


async def test_a_bad_query_parameter_and_a_forged_cursor_are_named(api: httpx.AsyncClient) -> None:
    limit = await api.get("/api/v1/drivers?limit=0")
    assert (limit.status_code, limit.json()["field"]) == (422, "limit")
    cursor = await api.get("/api/v1/drivers?cursor=%%%")
    assert (cursor.status_code, cursor.json()["field"]) == (422, "cursor")


async def test_health_answers_200_while_the_database_answers_and_503_when_it_does_not(
    api: httpx.AsyncClient, api_app: FastAPI
) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    api_app.state.db.engine.dispose()
    real_connect = api_app.state.db.engine.connect

    def broken() -> None:
        raise OSError("database is gone")

    api_app.state.db.engine.connect = broken
    try:
        down = await api.get("/healthz")
    finally:
        api_app.state.db.engine.connect = real_connect
    assert down.status_code == 503
    assert down.json()["code"] == "database_unavailable"
