"""Helpers for the tenancy and authorisation tests: an HTTP client signed in as a web user and/or carrying an API
key, and a real completed session (run through the charging use cases as the OCPP gateway calls them, then settled
from the driver's wallet and invoiced by the app's own event consumers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI

from voltbill.domain.money import Money
from voltbill.services import charging, invoicing, payments, wallet
from voltbill.services.charging import ChargingContext, StartSession, StopSession


def _csrf(page: httpx.Response) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    return token.group(1)


async def web_client(
    app: FastAPI, *, key: str | None = None, email: str | None = None, password: str | None = None
) -> httpx.AsyncClient:
    """A client of ``app`` sending API ``key`` (if given) and, if ``email`` is given, signed in through the login
    form; it sends the CSRF token with every request. The caller closes it."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://voltbill.test"
    )
    token = _csrf(await client.get("/login"))
    if email is not None:
        r = await client.post("/login", data={"email": email, "password": password, "csrf_token": token})
        assert r.status_code == 303, r.text
        token = _csrf(await client.get("/login"))
    client.headers.update({"X-CSRF-Token": token, "Accept": "text/html,application/json"})
    if key is not None:
        client.headers["Authorization"] = f"Bearer {key}"
    return client


@dataclass(frozen=True)
class ChargedSession:
    """What one session left behind: ``session_id``, ``cdr_id``, the wallet ``payment_id`` and the
    ``invoice_number``; ``total_excl_vat`` is the CDR total (EUR) and ``kwh`` its energy."""

    session_id: str
    cdr_id: str
    payment_id: str
    invoice_number: str
    total_excl_vat: Decimal
    kwh: Decimal


def charge_session(
    app: FastAPI, operator_id: str, charge_point_id: str, driver_id: str, uid: str, wh: int
) -> ChargedSession:
    """Top the wallet of the registered wallet driver ``driver_id`` up, then charge ``wh`` Wh on the registered
    ``charge_point_id`` with token ``uid`` (OCPP 1.6 StartTransaction, StopTransaction an hour later, ending five
    minutes ago). ``session.priced`` settles the CDR from the wallet and ``session.settled`` issues the invoice."""
    state = app.state
    wallet.top_up_wallet(state.payments, driver_id, Money(Decimal("100.00"), "EUR"), f"tenancy-{driver_id}")
    ctx = ChargingContext(bus=state.bus, clock=state.clock, start_checks=state.start_checks)
    end = state.clock.now() - timedelta(minutes=5)
    with state.db.uow() as uow:
        start = StartSession(charge_point_id, "ocpp1.6", 1, 1, end - timedelta(hours=1), Decimal(0), id_token=uid)
        started = charging.start_session(uow, ctx, start)
    assert started.authorization is not None and started.authorization.status == "Accepted", started
    with state.db.uow() as uow:
        stop = StopSession(charge_point_id, started.transaction_id, end, meter_stop_wh=Decimal(wh))
        stopped = charging.stop_session(uow, ctx, stop)
    assert stopped.cdr_id is not None and stopped.total_cost_excl_vat is not None, stopped
    with state.db.uow() as uow:
        paid, _ = payments.list_payments(uow, operator_id, driver_id=driver_id)
        invoices, _ = invoicing.list_invoices(uow, operator_id, driver_id=driver_id)
    [payment] = [p for p in paid if p["cdr_id"] == stopped.cdr_id]
    [invoice] = [i for i in invoices if stopped.cdr_id in i.cdr_ids]
    assert stopped.session_id is not None and invoice.number is not None
    return ChargedSession(
        session_id=stopped.session_id,
        cdr_id=stopped.cdr_id,
        payment_id=payment["id"],
        invoice_number=invoice.number,
        total_excl_vat=stopped.total_cost_excl_vat,
        kwh=Decimal(wh) / 1000,
    )
