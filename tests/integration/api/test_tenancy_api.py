"""Two operators on one server: each API key and web user sees and changes only its own operator's records."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tenancy import charge_session, web_client
from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import SystemClock
from voltbill.services.access import create_api_key, ensure_operator
from voltbill.services.users import create_user


@pytest.fixture
async def rival(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An admin API key of a second operator, ``rival``."""
    with api_app.state.db.uow() as uow:
        ensure_operator(uow, "rival", clock=SystemClock())
        _, key = create_api_key(uow, "rival", clock=SystemClock(), role="admin")
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client


async def test_another_operator_sees_none_of_the_records_and_cannot_take_their_ids(
    api: httpx.AsyncClient, rival: httpx.AsyncClient, bodies: Any
) -> None:
    await api.put("/api/v1/tariffs/AC", json=bodies.tariff())
    await api.put("/api/v1/charge-points/CP-1", json=bodies.charge_point("AC"))
    await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    await api.put("/api/v1/drivers/D-1/tokens/TOK-1", json={"type": "RFID"})

    for path in (
        "/api/v1/tariffs/AC",
        "/api/v1/charge-points/CP-1",
        "/api/v1/drivers/D-1",
        "/api/v1/drivers/D-1/tokens/TOK-1",
    ):
        assert (await rival.get(path)).status_code == 404, path
    for path in ("/api/v1/tariffs", "/api/v1/charge-points", "/api/v1/drivers"):
        assert (await rival.get(path)).json() == {"items": [], "next_cursor": None}, path

    taken = [
        await rival.put("/api/v1/tariffs/AC", json=bodies.tariff("0.01")),
        await rival.put("/api/v1/charge-points/CP-1", json=bodies.charge_point()),
        await rival.put("/api/v1/drivers/D-1", json=bodies.driver(name="Eve")),
    ]
    assert [(r.status_code, r.json()["code"]) for r in taken] == [(409, "id_taken")] * 3
    await rival.put("/api/v1/drivers/D-2", json=bodies.driver())
    stolen = await rival.put("/api/v1/drivers/D-2/tokens/TOK-1", json={"type": "RFID"})
    assert (stolen.status_code, stolen.json()["code"]) == (409, "id_taken")
    assert (await rival.put("/api/v1/charge-points/CP-9", json=bodies.charge_point("AC"))).json()[
        "code"
    ] == "tariff_not_found"

    assert (await api.get("/api/v1/drivers/D-1")).json()["name"] == "Ana Lima"
    assert (await api.get("/api/v1/tariffs/AC")).json()["elements"][0]["price_components"][0]["price"] == "0.25"


async def test_a_staff_key_reads_but_cannot_write(api_app: FastAPI, api: httpx.AsyncClient, bodies: Any) -> None:
    await api.put("/api/v1/drivers/D-1", json=bodies.driver())
    with api_app.state.db.uow() as uow:
        _, key = create_api_key(uow, "default", clock=SystemClock(), role="staff")
    staff = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/api/v1/drivers/D-1", headers=staff)).status_code == 200
    refused = await api.put("/api/v1/drivers/D-1", json=bodies.driver(name="Eve"), headers=staff)
    assert (refused.status_code, refused.json()["code"]) == (403, "read_only_key")
    assert (await api.get("/api/v1/drivers/D-1")).json()["name"] == "Ana Lima"


async def test_the_operators_cli_creates_an_operator_and_a_staff_key_that_can_only_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "VOLTBILL_DATABASE_URL": sqlite_url}

    def voltbill(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "voltbill", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert voltbill("operators", "create", "rival", "--name", "Rival charging").returncode == 0
    made = voltbill("operators", "api-key", "rival", "--role", "staff")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("vb_") and "created staff key" in made.stderr
    app = create_app(Settings(database_url=sqlite_url, _env_file=None))  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        assert (await client.get("/api/v1/drivers")).json() == {"items": [], "next_cursor": None}
        body = {"name": "Eve", "email": "eve@rival.test", "payment_method": "card"}
        assert (await client.put("/api/v1/drivers/D-9", json=body)).status_code == 403
    for value in vars(app.state)["_state"].values():
        if isinstance(value, threading.Thread) and callable(getattr(value, "stop", None)):
            value.stop()
    app.state.db.dispose()


PASSWORD = "tenancy password 1"


def _absent(record_id: str) -> str:
    """An id of the same shape that names no record (the last character changed)."""
    return record_id[:-1] + ("2" if record_id[-1] == "1" else "1")


async def _register(client: httpx.AsyncClient, bodies: Any, name: str, price: str) -> None:
    """Tariff ``{name}-tariff`` at ``price`` per kWh, charger ``{name}-cp`` at site "{Name} Depot", wallet driver
    ``{name}-driver`` (``{name}@example.com``) with RFID token ``{NAME}TOKEN``; all through the REST API."""
    answers = [
        await client.put(f"/api/v1/tariffs/{name}-tariff", json=bodies.tariff(price)),
        await client.put(
            f"/api/v1/charge-points/{name}-cp",
            json=bodies.charge_point(f"{name}-tariff", location=bodies.location(name=f"{name.title()} Depot")),
        ),
        await client.put(f"/api/v1/drivers/{name}-driver", json=bodies.driver(email=f"{name}@example.com")),
        await client.put(f"/api/v1/drivers/{name}-driver/tokens/{name.upper()}TOKEN", json={"type": "RFID"}),
    ]
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]


async def test_another_operators_charged_session_and_its_cdr_invoice_and_payment_are_invisible(
    api_app: FastAPI, api_settings: Settings, api: httpx.AsyncClient, rival: httpx.AsyncClient, bodies: Any
) -> None:
    # Both operators number invoices VB-YYYY-000001 by default; the rival's own prefix keeps the numbers apart.
    assert (await rival.put("/api/v1/branding", json={"invoice_prefix": "RIV"})).status_code == 200
    await _register(api, bodies, "mine", "0.25")
    await _register(rival, bodies, "theirs", "0.7777")
    mine = charge_session(api_app, "default", "mine-cp", "mine-driver", "MINETOKEN", wh=10_000)
    theirs = charge_session(api_app, "rival", "theirs-cp", "theirs-driver", "THEIRSTOKEN", wh=13_000)
    clock = SystemClock()
    with api_app.state.db.uow() as uow:
        _, staff_key = create_api_key(uow, "default", clock=clock, role="staff")
        _, rival_key = create_api_key(uow, "rival", clock=clock, role="admin")
        for email, role, driver_id, operator_id in (
            ("admin@mine.test", "operator_admin", None, "default"),
            ("staff@mine.test", "operator_staff", None, "default"),
            ("driver@mine.test", "driver", "mine-driver", "default"),
            ("admin@theirs.test", "operator_admin", None, "rival"),
        ):
            create_user(uow, email=email, password=PASSWORD, role=role, driver_id=driver_id, operator_id=operator_id,
                        clock=clock)  # fmt: skip
    keys = {"admin key": api_settings.api_key, "staff key": staff_key}
    callers = {name: await web_client(api_app, key=key) for name, key in keys.items()}
    for who in ("admin", "staff"):
        callers[f"{who} login"] = await web_client(api_app, email=f"{who}@mine.test", password=PASSWORD)
    driver = await web_client(api_app, email="driver@mine.test", password=PASSWORD)
    owner = await web_client(api_app, key=rival_key, email="admin@theirs.test", password=PASSWORD)

    session, cdr, payment, number = theirs.session_id, theirs.cdr_id, theirs.payment_id, theirs.invoice_number
    site = (await rival.get("/api/v1/charge-points/theirs-cp")).json()["location"]["id"]
    assert site != (await api.get("/api/v1/charge-points/mine-cp")).json()["location"]["id"]
    markers = (session, cdr, payment, number, "theirs-driver", "theirs-cp", "theirs-tariff", "THEIRSTOKEN",
               "Theirs Depot", "theirs@example.com", site)  # fmt: skip
    api_details = [
        ("/api/v1/sessions/{}", session), ("/api/v1/cdrs/{}", cdr), ("/api/v1/payments/{}", payment),
        ("/api/v1/invoices/{}", number), ("/api/v1/invoices/{}.pdf", number),
        ("/api/v1/drivers/{}", "theirs-driver"), ("/api/v1/drivers/{}/wallet", "theirs-driver"),
        ("/api/v1/drivers/{}/payments", "theirs-driver"), ("/api/v1/drivers/{}/tokens", "theirs-driver"),
        ("/api/v1/drivers/theirs-driver/tokens/{}", "THEIRSTOKEN"), ("/api/v1/charge-points/{}", "theirs-cp"),
        ("/api/v1/tariffs/{}", "theirs-tariff"), ("/api/v1/tariffs/{}/versions", "theirs-tariff"),
    ]  # fmt: skip
    page_details = [
        ("/dashboard/cdrs/{}", cdr), ("/dashboard/invoices/{}", number), ("/dashboard/invoices/{}/pdf", number),
        ("/dashboard/tariffs/{}", "theirs-tariff"),
    ]  # fmt: skip
    driver_details = [("/driver/invoices/{}", number), ("/driver/invoices/{}/pdf", number)]
    # A list route and the record of the rival's that its owner finds in it.
    api_lists = {
        "/api/v1/sessions": session, "/api/v1/sessions?driver_id=theirs-driver": session,
        "/api/v1/sessions?charge_point_id=theirs-cp": session, "/api/v1/cdrs": cdr,
        f"/api/v1/cdrs?session_id={session}": cdr, "/api/v1/invoices": number,
        "/api/v1/invoices?driver_id=theirs-driver": number, "/api/v1/payments": payment,
        "/api/v1/drivers": "theirs-driver", "/api/v1/charge-points": "theirs-cp", "/api/v1/tariffs": "theirs-tariff",
        "/api/v1/analytics/usage": "theirs-cp", "/api/v1/analytics/usage?by=location": site,
        "/api/v1/analytics/placement": "Theirs Depot", "/api/v1/ledger/trial-balance": "wallet:theirs-driver",
    }  # fmt: skip
    api_figures = ["/api/v1/analytics/revenue?by=location", "/api/v1/analytics/peaks", "/api/v1/analytics/areas",
                   "/api/v1/analytics/anomalies", "/api/v1/ledger/card-reconciliation", "/api/v1/pending",
                   "/api/v1/payments?status=open"]  # fmt: skip
    pages = {
        "/dashboard/stations": "theirs-cp", "/dashboard/sessions": "theirs-cp", "/dashboard/cdrs": cdr,
        "/dashboard/invoices": number, "/dashboard/drivers": "theirs-driver", "/dashboard/tariffs": "theirs-tariff",
        "/dashboard/analytics": "Theirs Depot", "/dashboard/sessions?driver_id=theirs-driver": "theirs-cp",
        "/dashboard/invoices?driver_id=theirs-driver": number,
    }  # fmt: skip
    figure_pages = ["/dashboard", "/dashboard/anomalies", "/dashboard/analytics/what-if"]
    failures: list[str] = []

    async def same_as_absent(name: str, client: httpx.AsyncClient, method: str, path: str, record: str,
                             **kwargs: Any) -> None:  # fmt: skip
        """The rival's record answers 404 exactly as an id that names nothing does (existence does not show)."""
        real = await client.request(method, path.format(record), **kwargs)
        absent = await client.request(method, path.format(_absent(record)), **kwargs)
        if real.status_code != 404 or real.text.replace(record, _absent(record)) != absent.text:
            failures.append(f"{method} {path.format(record)} as {name}: {real.status_code} {real.text[:200]}")

    def no_markers(name: str, path: str, r: httpx.Response) -> None:
        leaked = [m for m in markers if m in r.text and m not in path]  # echoing a filter is no leak
        if r.status_code != 200 or leaked:
            failures.append(f"GET {path} as {name}: {r.status_code}, shows the rival's {leaked}")

    try:
        for name, client in callers.items():
            web = name.endswith("login")
            for path, record in page_details if web else api_details:
                await same_as_absent(name, client, "GET", path, record)
            for path in [*pages, *figure_pages] if web else [*api_lists, *api_figures]:
                no_markers(name, path, await client.get(path))
        for path, record in driver_details:
            await same_as_absent("driver", driver, "GET", path, record)
        for path in ("/driver", "/driver/invoices"):
            no_markers("driver", path, await driver.get(path))
        assert mine.invoice_number in (await driver.get("/driver/invoices")).text

        # Writes naming the rival's records answer 404 as well and change nothing.
        balance = (await owner.get("/api/v1/drivers/theirs-driver/wallet")).json()
        admin = callers["admin key"]
        money = {"amount": "1.00", "currency": "EUR"}
        for path, record, body in (
            ("/api/v1/invoices/{}/void", number, None), ("/api/v1/invoices/{}/credit-note", number, None),
            ("/api/v1/invoices/{}/resend", number, None), ("/api/v1/payments/{}/refunds", payment, money),
            ("/api/v1/analytics/anomalies/{}/energy_meter_mismatch/check", session, None),
            ("/api/v1/analytics/anomalies/{}/energy_meter_mismatch/credit", session, None),
            ("/api/v1/drivers/{}/wallet/top-ups", "theirs-driver", money),
            ("/api/v1/charge-points/{}/commands/reset", "theirs-cp", {}),
        ):  # fmt: skip
            await same_as_absent("admin key", admin, "POST", path, record, json=body, headers={"Idempotency-Key": "k1"})
        for path, record, body in (
            ("/api/v1/drivers/{}/wallet/auto-top-up", "theirs-driver", {**money, "threshold": "5.00"}),
            ("/api/v1/drivers/{}/card", "theirs-driver", {"provider": "sandbox", "payment_method_id": "pm_x"}),
        ):
            await same_as_absent("admin key", admin, "PUT", path, record, json=body)
        form = {"kind": "energy_meter_mismatch", "csrf_token": callers["admin login"].headers["X-CSRF-Token"]}
        real, absent = [
            await callers["admin login"].post("/dashboard/anomalies/check", data={**form, "session_id": sid})
            for sid in (session, _absent(session))
        ]
        if real.status_code != 404 or real.text.replace(session, _absent(session)) != absent.text:
            failures.append(f"POST /dashboard/anomalies/check as admin login: {real.status_code}")

        # The owner sees all of it, unchanged, so the checks above look at real records.
        for path, record in api_details + page_details:
            r = await owner.get(path.format(record))
            if r.status_code != 200:
                failures.append(f"GET {path.format(record)} as the owner: {r.status_code}")
        for path, record in {**api_lists, **pages}.items():
            if record not in (await owner.get(path)).text:
                failures.append(f"GET {path} as the owner does not show {record}")
        assert (await owner.get(f"/api/v1/invoices/{number}")).json()["status"] == "issued"
        assert (await owner.get(f"/api/v1/payments/{payment}")).json()["refunded_amount"] == "0.00"
        assert (await owner.get("/api/v1/drivers/theirs-driver/wallet")).json() == balance

        # The overview's daily revenue holds each operator's own takings, never the other's nor the sum.
        cents = [format(c.total_excl_vat.quantize(Decimal("0.01")), "f") for c in (mine, theirs)]
        both = format((mine.total_excl_vat + theirs.total_excl_vat).quantize(Decimal("0.01")), "f")
        for client, own, other in ((callers["admin login"], *cents), (owner, *reversed(cents))):
            page = (await client.get("/dashboard")).text
            assert (own in page, other in page, both in page) == (True, False, False), (own, other, both)
    finally:
        for client in (*callers.values(), driver, owner):
            await client.aclose()
    assert not failures, "\n".join(failures)

    # Each operator's revenue and energy are its own session's only.
    for client, charged in ((api, mine), (rival, theirs)):
        revenue = (await client.get("/api/v1/analytics/revenue", params={"period": "month"})).json()["items"]
        assert sum(Decimal(r["revenue_excl_vat"]) for r in revenue) == charged.total_excl_vat
        usage = (await client.get("/api/v1/analytics/usage")).json()["items"]
        assert [(u["sessions"], Decimal(str(u["kwh"]))) for u in usage] == [(1, charged.kwh)], usage
