"""Payments REST calls on SQLite and PostgreSQL: wallet top-ups, cards, refunds, trial balance, webhooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from payments_db import migrated_database
from voltbill.adapters.payments.sandbox import SandboxGateway, tokenize_card
from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.services.payment_context import PaymentsContext

ADMIN_KEY = "vb_test_admin_key_payments_0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database (copied from a per-session template: migrating a database per test costs seconds)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("VOLTBILL_PAYMENT_GATEWAY", "sandbox")
    monkeypatch.setenv("VOLTBILL_PAYMENTS_POLL_S", "0")
    return create_app(Settings(database_url=database_url, api_key=ADMIN_KEY, _env_file=None))  # type: ignore[call-arg]


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client
    app.state.db.dispose()


async def driver(api: httpx.AsyncClient, driver_id: str, method: str) -> None:
    body = {"name": "Ana Lima", "email": "ana@example.com", "payment_method": method}
    assert (await api.put(f"/api/v1/drivers/{driver_id}", json=body)).status_code in (200, 201)


async def publish(app: FastAPI, name: str, event: dict[str, Any]) -> None:
    """Publish as the OCPP layer does: from a worker thread, after its commit."""
    await anyio.to_thread.run_sync(app.state.bus.publish, name, event)


async def priced(app: FastAPI, session_id: str, driver_id: str, excl: str, incl: str | None) -> None:
    event = {
        "session_id": session_id,
        "cdr_id": f"cdr-{session_id}",
        "driver_id": driver_id,
        "charge_point_id": "CP1",
        "currency": "EUR",
        "total_cost": {"excl_vat": excl, "incl_vat": incl},
        "end_date_time": "2026-03-02T10:00:00+00:00",
    }
    await publish(app, "session.priced", event)


async def test_a_top_up_answers_the_new_balance_and_a_replay_answers_the_same(api: httpx.AsyncClient) -> None:
    await driver(api, "drv-1", "wallet")
    body = {"amount": "50.00", "currency": "EUR"}
    first = await api.post("/api/v1/drivers/drv-1/wallet/top-ups", json=body, headers={"Idempotency-Key": "k1"})
    again = await api.post("/api/v1/drivers/drv-1/wallet/top-ups", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 200, first.text
    assert first.json() == again.json()
    assert first.json()["balance"] == "50.00"
    wallet = (await api.get("/api/v1/drivers/drv-1/wallet")).json()
    assert (wallet["balance"], wallet["currency"]) == ("50.00", "EUR")


async def test_a_top_up_without_idempotency_key_or_with_a_bad_amount_is_refused(api: httpx.AsyncClient) -> None:
    await driver(api, "drv-1", "wallet")
    missing = await api.post("/api/v1/drivers/drv-1/wallet/top-ups", json={"amount": "5.00", "currency": "EUR"})
    assert missing.status_code == 422
    bad = await api.post(
        "/api/v1/drivers/drv-1/wallet/top-ups",
        json={"amount": "5.001", "currency": "EUR"},
        headers={"Idempotency-Key": "k"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "$.amount"
    unknown = await api.get("/api/v1/drivers/nobody/wallet")
    assert unknown.status_code == 404


async def test_a_wallet_session_is_settled_and_the_trial_balance_is_balanced(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    await driver(api, "drv-1", "wallet")
    settled: list[dict[str, Any]] = []
    app.state.bus.subscribe("session.settled", settled.append)
    await api.post(
        "/api/v1/drivers/drv-1/wallet/top-ups",
        json={"amount": "20.00", "currency": "EUR"},
        headers={"Idempotency-Key": "a"},
    )
    await priced(app, "s1", "drv-1", "10.0000", "11.9000")
    await priced(app, "s1", "drv-1", "10.0000", "11.9000")
    assert settled == [
        {
            "session_id": "s1",
            "cdr_id": "cdr-s1",
            "driver_id": "drv-1",
            "payment_method": "wallet",
            "amount": "11.90",
            "currency": "EUR",
        }
    ]
    assert (await api.get("/api/v1/drivers/drv-1/wallet")).json()["balance"] == "8.10"
    tb = (await api.get("/api/v1/ledger/trial-balance?currency=EUR")).json()
    assert tb["balanced"] is True
    rows = {r["account"]: r for r in tb["accounts"]}
    assert rows["revenue"] == {
        "account": "revenue",
        "debit": "0.00",
        "credit": "10.00",
        "balance": "10.00",
        "currency": "EUR",
    }
    assert rows["vat_payable"]["balance"] == "1.90"


async def test_a_card_driver_pays_by_card_and_can_be_refunded_once_per_key(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    await driver(api, "drv-2", "card")
    card = await api.put(
        "/api/v1/drivers/drv-2/card",
        json={"provider": "sandbox", "payment_method_id": tokenize_card("4242424242424242")},
    )
    assert card.status_code == 200, card.text
    ctx: PaymentsContext = app.state.payments
    await publish(
        app, "session.started", {"session_id": "s2", "driver_id": "drv-2", "charge_point_id": "CP1", "id_token": "T"}
    )
    await priced(app, "s2", "drv-2", "20.0000", "23.8000")
    history = (await api.get("/api/v1/drivers/drv-2/payments")).json()["items"]
    assert [(p["status"], p["captured_amount"], p["authorised_amount"]) for p in history] == [
        ("captured", "23.80", "50.00")
    ]
    pid = history[0]["id"]
    body = {"amount": "3.80", "currency": "EUR", "reason": "slow charger"}
    first = await api.post(f"/api/v1/payments/{pid}/refunds", json=body, headers={"Idempotency-Key": "r1"})
    again = await api.post(f"/api/v1/payments/{pid}/refunds", json=body, headers={"Idempotency-Key": "r1"})
    assert first.status_code == 200, first.text
    assert first.json() == again.json()
    too_much = await api.post(
        f"/api/v1/payments/{pid}/refunds",
        json={"amount": "20.01", "currency": "EUR"},
        headers={"Idempotency-Key": "r2"},
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_exceeds_payment")
    assert isinstance(ctx.gateway, SandboxGateway)
    assert [c[0] for c in ctx.gateway.calls].count("refund") == 1
    tb = (await api.get("/api/v1/ledger/trial-balance")).json()
    rows = {r["account"]: r["balance"] for r in tb["accounts"]}
    assert tb["balanced"] and rows["clearing:sandbox"] == "20.00" and rows["refunds"] == "3.80"


async def test_a_declined_card_shows_up_in_the_open_payments(api: httpx.AsyncClient, app: FastAPI) -> None:
    await driver(api, "drv-3", "card")
    pm = tokenize_card("4000000000000341")
    await api.put("/api/v1/drivers/drv-3/card", json={"provider": "sandbox", "payment_method_id": pm})
    await priced(app, "s3", "drv-3", "10.0000", "11.9000")
    open_items = (await api.get("/api/v1/payments?status=open")).json()["items"]
    assert [(p["session_id"], p["status"], p["attempts"]) for p in open_items] == [("s3", "capture_pending", 1)]
    assert open_items[0]["last_error"].startswith("payment_declined")


async def test_a_webhook_is_processed_once_and_a_bad_signature_is_refused(api: httpx.AsyncClient, app: FastAPI) -> None:
    gateway = app.state.payments.gateway
    payload = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "object_id": "pi_x"}).encode()
    headers = {"Sandbox-Signature": gateway.sign(payload), "Content-Type": "application/json"}
    first = await api.post("/api/v1/webhooks/sandbox", content=payload, headers=headers)
    again = await api.post("/api/v1/webhooks/sandbox", content=payload, headers=headers)
    assert (first.json()["status"], again.json()["status"]) == ("processed", "duplicate")
    forged = await api.post(
        "/api/v1/webhooks/sandbox", content=payload, headers={**headers, "Sandbox-Signature": "0" * 64}
    )
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_webhook_signature"
