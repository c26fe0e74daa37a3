"""Who may call what: every route of ``create_app()`` is called as each kind of caller and checked against RULES.

A route without a rule fails ``test_every_route_has_an_access_rule``, so a new endpoint cannot ship without a
decision about who may use it. Callers: anonymous; the operator's admin and staff (API key + web session); a driver
(web session only); and another operator's admin (``other``), who must never see or change the first operator's
records. Paths name real records of the first operator (a charged, settled and invoiced session among them), so
a route that forgets to scope by operator answers ``other`` with data and fails.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tenancy import charge_session, web_client
from voltbill.config import Settings
from voltbill.domain.clock import SystemClock
from voltbill.services import registry
from voltbill.services.access import create_api_key, ensure_operator
from voltbill.services.users import create_user

ALLOW, DENY, SCOPED, NOT_OK, ANY = "allow", "deny", "scoped", "not_ok", "any"
CALLERS = ("anonymous", "admin", "staff", "driver", "other")


@dataclass(frozen=True)
class Rule:
    """What each caller gets. ``allow``: not 401/403 (nor a redirect to the login form) and no server error;
    ``deny``: 401/403 or a redirect to the login form; ``scoped``: the other operator is served its own data only
    (never a 2xx on a path naming the first operator's record, never one of its records in the body);
    ``not_ok``: no 2xx for anyone (e.g. unsigned webhooks); ``any``: no assertion beyond the leak check."""

    anonymous: str
    admin: str
    staff: str
    driver: str
    other: str
    why: str


PUBLIC = Rule(ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, "public: health, API description, sign-in form, pay page")
API_READ = Rule(DENY, ALLOW, ALLOW, DENY, SCOPED, "operator API read: admin and staff keys, own operator only")
API_WRITE = Rule(DENY, ALLOW, DENY, DENY, SCOPED, "operator API write: admin keys only, own operator only")
WEBHOOK = Rule(NOT_OK, NOT_OK, NOT_OK, NOT_OK, NOT_OK, "provider webhooks: signature checked, no caller identity")
REDIRECT = Rule(ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, "a plain redirect (``/`` to ``/dashboard``), no data")
PAGE_OPERATOR = Rule(DENY, ALLOW, ALLOW, DENY, SCOPED, "operator pages: admin and staff users")
PAGE_OPERATOR_WRITE = Rule(DENY, ALLOW, DENY, DENY, SCOPED, "operator forms: admin users only")
PAGE_DRIVER = Rule(DENY, DENY, DENY, ALLOW, DENY, "driver pages: the signed-in driver's own records")
SESSION = Rule(ANY, ANY, ANY, ANY, ANY, "sign-in/out itself (tested in test_web_auth)")

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("MOUNT", "/static"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): SESSION,
    ("GET", "/logout"): SESSION,
    ("POST", "/logout"): SESSION,
    # registry
    ("GET", "/api/v1/tariffs"): API_READ,
    ("GET", "/api/v1/tariffs/{tariff_id}"): API_READ,
    ("GET", "/api/v1/tariffs/{tariff_id}/versions"): API_READ,
    ("PUT", "/api/v1/tariffs/{tariff_id}"): API_WRITE,
    ("GET", "/api/v1/charge-points"): API_READ,
    ("GET", "/api/v1/charge-points/{charge_point_id}"): API_READ,
    ("PUT", "/api/v1/charge-points/{charge_point_id}"): API_WRITE,
    ("POST", "/api/v1/charge-points/{charge_point_id}/commands/{command}"): API_WRITE,
    ("GET", "/api/v1/drivers"): API_READ,
    ("GET", "/api/v1/drivers/{driver_id}"): API_READ,
    ("PUT", "/api/v1/drivers/{driver_id}"): API_WRITE,
    ("GET", "/api/v1/drivers/{driver_id}/tokens"): API_READ,
    ("GET", "/api/v1/drivers/{driver_id}/tokens/{uid}"): API_READ,
    ("PUT", "/api/v1/drivers/{driver_id}/tokens/{uid}"): API_WRITE,
    # sessions and CDRs
    ("GET", "/api/v1/sessions"): API_READ,
    ("GET", "/api/v1/sessions/{session_id}"): API_READ,
    ("GET", "/api/v1/cdrs"): API_READ,
    ("GET", "/api/v1/cdrs/{cdr_id}"): API_READ,
    # payments and ledger
    ("GET", "/api/v1/drivers/{driver_id}/wallet"): API_READ,
    ("POST", "/api/v1/drivers/{driver_id}/wallet/top-ups"): API_WRITE,
    ("PUT", "/api/v1/drivers/{driver_id}/wallet/auto-top-up"): API_WRITE,
    ("PUT", "/api/v1/drivers/{driver_id}/card"): API_WRITE,
    ("GET", "/api/v1/drivers/{driver_id}/payments"): API_READ,
    ("GET", "/api/v1/payments"): API_READ,
    ("GET", "/api/v1/payments/{payment_id}"): API_READ,
    ("POST", "/api/v1/payments/{payment_id}/refunds"): API_WRITE,
    ("GET", "/api/v1/ledger/trial-balance"): API_READ,
    ("GET", "/api/v1/ledger/card-reconciliation"): API_READ,
    ("POST", "/api/v1/webhooks/stripe"): WEBHOOK,
    ("POST", "/api/v1/webhooks/sandbox"): WEBHOOK,
    # invoices
    ("GET", "/api/v1/invoices"): API_READ,
    ("GET", "/api/v1/invoices/{number}.pdf"): API_READ,
    ("GET", "/api/v1/invoices/{number}"): API_READ,
    ("POST", "/api/v1/invoices/{number}/credit-note"): API_WRITE,
    ("POST", "/api/v1/invoices/{number}/void"): API_WRITE,
    ("POST", "/api/v1/invoices/{number}/resend"): API_WRITE,
    ("GET", "/api/v1/branding"): API_READ,
    ("PUT", "/api/v1/branding"): API_WRITE,
    # analytics
    ("GET", "/api/v1/analytics/usage"): API_READ,
    ("GET", "/api/v1/analytics/peaks"): API_READ,
    ("GET", "/api/v1/analytics/revenue"): API_READ,
    ("GET", "/api/v1/analytics/placement"): API_READ,
    ("GET", "/api/v1/analytics/areas"): API_READ,
    ("GET", "/api/v1/analytics/anomalies"): API_READ,
    ("POST", "/api/v1/analytics/anomalies/{session_id}/{kind}/check"): API_WRITE,
    ("POST", "/api/v1/analytics/anomalies/{session_id}/{kind}/credit"): API_WRITE,
    ("POST", "/api/v1/analytics/whatif"): API_WRITE,  # a POST: admin keys only, though it changes nothing
    # operations
    ("GET", "/api/v1/pending"): API_READ,
    # operator dashboard
    ("GET", "/"): REDIRECT,
    ("GET", "/dashboard"): PAGE_OPERATOR,
    ("GET", "/dashboard/stations"): PAGE_OPERATOR,
    ("GET", "/dashboard/sessions"): PAGE_OPERATOR,
    ("GET", "/dashboard/cdrs"): PAGE_OPERATOR,
    ("GET", "/dashboard/cdrs/{cdr_id}"): PAGE_OPERATOR,
    ("GET", "/dashboard/drivers"): PAGE_OPERATOR,
    ("GET", "/dashboard/tariffs"): PAGE_OPERATOR,
    ("GET", "/dashboard/tariffs/new"): PAGE_OPERATOR_WRITE,
    ("POST", "/dashboard/tariffs/new"): PAGE_OPERATOR_WRITE,
    ("GET", "/dashboard/tariffs/{tariff_id}"): PAGE_OPERATOR,
    ("POST", "/dashboard/tariffs/{tariff_id}"): PAGE_OPERATOR_WRITE,
    ("GET", "/dashboard/invoices"): PAGE_OPERATOR,
    ("GET", "/dashboard/invoices/{number}"): PAGE_OPERATOR,
    ("GET", "/dashboard/invoices/{number}/pdf"): PAGE_OPERATOR,
    ("GET", "/dashboard/analytics"): PAGE_OPERATOR,
    ("GET", "/dashboard/analytics/what-if"): PAGE_OPERATOR,
    ("GET", "/dashboard/anomalies"): PAGE_OPERATOR,
    ("POST", "/dashboard/anomalies/check"): PAGE_OPERATOR_WRITE,
    # driver pages
    ("GET", "/driver"): PAGE_DRIVER,
    ("GET", "/driver/invoices"): PAGE_DRIVER,
    ("GET", "/driver/invoices/{number}"): PAGE_DRIVER,
    ("GET", "/driver/invoices/{number}/pdf"): PAGE_DRIVER,
    # ad-hoc payment page (EU AFIR: no account needed)
    ("GET", "/pay/assets/pay.js"): PUBLIC,
    ("GET", "/pay/{evse_id}"): PUBLIC,
    ("POST", "/pay/{evse_id}/start"): PUBLIC,
    ("GET", "/pay/{evse_id}/sessions/{token}"): PUBLIC,
    ("GET", "/pay/{evse_id}/sessions/{token}.json"): PUBLIC,
    ("GET", "/pay/{evse_id}/sessions/{token}/receipt.pdf"): PUBLIC,
}
# WebSocket routes: chargers authenticate with HTTP Basic (OCPP security profile 1), checked in
# test_an_unknown_or_unauthenticated_charger_cannot_open_the_ocpp_socket.
WEBSOCKET_RULES = {"/ocpp/{charge_point_id}": "charger HTTP Basic auth"}

# The first operator's registry records; the other operator must never get them (nor its session's records).
A = {
    "tariff_id": "acme-tariff",
    "charge_point_id": "acme-cp",
    "driver_id": "acme-driver",
    "uid": "ACMETOKEN1",
    "evse_id": "acme-cp-1",
}
SECRETS = ("Acme Secret Depot", "secret-ana@acme.test", "Acme secret tariff")
# Path parameters that name no record: a real value, so the route gets as far as looking the record up.
VALUES = {"kind": "energy_meter_mismatch"}
PLACEHOLDER = "none-1"
PASSWORD = "matrix password 1"


def _routes(app: FastAPI) -> tuple[list[tuple[str, str]], list[str]]:
    """``(method, path)`` of every HTTP route (``MOUNT`` for mounted apps) and the paths of WebSocket routes."""
    http: list[tuple[str, str]] = []
    sockets: list[str] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            http.append(("MOUNT", route.path))
        elif context.methods:
            http += [(m, str(context.path)) for m in sorted(context.methods) if m != "HEAD"]
        else:
            sockets.append(str(context.path))
    return http, sockets


def _url(path: str, ids: dict[str, str] = A) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m.group(1), VALUES.get(m.group(1), PLACEHOLDER)), path)


def _charged(app: FastAPI) -> dict[str, str]:
    """``A`` plus the ids of a session the first operator's driver charged: session, CDR, payment, invoice."""
    done = charge_session(app, "default", A["charge_point_id"], A["driver_id"], A["uid"], wh=7_000)
    return {**A, "session_id": done.session_id, "cdr_id": done.cdr_id, "payment_id": done.payment_id,
            "number": done.invoice_number}  # fmt: skip


def _seed(app: FastAPI) -> dict[str, str]:
    clock = SystemClock()
    with app.state.db.uow() as uow:
        ensure_operator(uow, "rival", clock=clock, name="Rival charging")
        _, staff_key = create_api_key(uow, "default", clock=clock, role="staff", name="staff")
        _, other_key = create_api_key(uow, "rival", clock=clock, role="admin", name="rival admin")
        registry.upsert_tariff(
            uow,
            "default",
            A["tariff_id"],
            {
                "currency": "EUR",
                "tariff_alt_text": [{"language": "en", "text": "Acme secret tariff"}],
                "elements": [{"price_components": [{"type": "ENERGY", "price": "0.31", "step_size": 1}]}],
            },
            clock=clock,
        )
        location = {
            "name": "Acme Secret Depot",
            "address": "Kade 9",
            "city": "Amsterdam",
            "postal_code": "1011AB",
            "country": "NLD",
            "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
            "time_zone": "Europe/Amsterdam",
        }
        registry.upsert_charge_point(
            uow, "default", A["charge_point_id"], password="acme-cp-password-1", tariff_id=A["tariff_id"],
            location=location, clock=clock,
        )  # fmt: skip
        registry.upsert_driver(
            uow,
            "default",
            A["driver_id"],
            name="Ana",
            email="secret-ana@acme.test",
            payment_method="wallet",
            clock=clock,
        )
        registry.upsert_token(uow, "default", A["driver_id"], A["uid"], type="RFID", clock=clock)
        create_user(uow, email="admin@acme.test", password=PASSWORD, role="operator_admin", clock=clock)
        create_user(uow, email="staff@acme.test", password=PASSWORD, role="operator_staff", clock=clock)
        create_user(uow, email="ana@acme.test", password=PASSWORD, role="driver", driver_id=A["driver_id"], clock=clock)
        create_user(
            uow, email="admin@rival.test", password=PASSWORD, role="operator_admin", operator_id="rival", clock=clock
        )
    return {"staff": staff_key, "other": other_key}


def _verdict(expect: str, method: str, path: str, r: httpx.Response, ids: dict[str, str]) -> str | None:
    """Why the answer breaks the rule, or ``None``."""
    login_redirect = r.status_code in (302, 303, 307) and r.headers.get("location", "").startswith("/login")
    denied = r.status_code in (401, 403) or login_redirect
    if expect == ALLOW and (denied or r.status_code >= 500):
        return f"expected access, got {r.status_code}"
    if expect == DENY and not denied:
        return f"expected 401/403 or the login form, got {r.status_code}"
    if expect == NOT_OK and 200 <= r.status_code < 300:
        return f"expected a refusal, got {r.status_code}"
    if expect == SCOPED:
        if r.status_code >= 500:
            return f"server error {r.status_code}"
        names_a_record = any(f"{{{name}}}" in path for name in ids)
        if names_a_record and 200 <= r.status_code < 300:
            return f"another operator got {r.status_code} on the first operator's record"
    return None


async def test_every_route_answers_each_caller_as_its_rule_says(api_app: FastAPI, api_settings: Settings) -> None:
    keys = _seed(api_app)
    ids = _charged(api_app)
    # Echoing an id the caller sent (``session ... does not exist``) tells nothing; any other of them is a leak.
    secrets = (*SECRETS, *ids.values())

    http_routes, _ = _routes(api_app)
    clients = {
        "anonymous": await web_client(api_app),
        "admin": await web_client(api_app, key=api_settings.api_key, email="admin@acme.test", password=PASSWORD),
        "staff": await web_client(api_app, key=keys["staff"], email="staff@acme.test", password=PASSWORD),
        "driver": await web_client(api_app, email="ana@acme.test", password=PASSWORD),
        "other": await web_client(api_app, key=keys["other"], email="admin@rival.test", password=PASSWORD),
    }
    failures: list[str] = []
    # Signing out last, so every other call still has its session.
    ordered = sorted(http_routes, key=lambda mp: mp[1] in ("/logout",))
    try:
        for method, path in ordered:
            rule = RULES.get((method, path))
            if rule is None or method == "MOUNT":
                continue
            for caller in CALLERS:
                expect = getattr(rule, caller)
                kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                url = _url(path, ids)
                r = await clients[caller].request(method, url, **kwargs)
                problem = _verdict(expect, method, path, r, ids)
                if expect == SCOPED and any(secret in r.text and secret not in url for secret in secrets):
                    problem = "another operator's records leaked into the answer"
                if problem:
                    failures.append(f"{method} {path} as {caller}: {problem}")
    finally:
        for client in clients.values():
            await client.aclose()
    assert not failures, "\n".join(failures)


def test_every_route_has_an_access_rule(api_app: FastAPI) -> None:
    http_routes, sockets = _routes(api_app)
    missing = [f"{method} {path}" for method, path in http_routes if (method, path) not in RULES]
    missing += [f"WEBSOCKET {path}" for path in sockets if path not in WEBSOCKET_RULES]
    assert not missing, "routes without an access rule in test_authorization.RULES:\n" + "\n".join(missing)


def test_an_unknown_or_unauthenticated_charger_cannot_open_the_ocpp_socket(api_app: FastAPI) -> None:
    _seed(api_app)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient nags about httpx2
        from starlette.testclient import TestClient
    with TestClient(api_app) as client:
        for path in WEBSOCKET_RULES:
            for target, headers in ((_url(path), {}), ("/ocpp/nobody", {"Authorization": "Basic bm9ib2R5Og=="})):
                try:
                    with client.websocket_connect(target, subprotocols=["ocpp1.6"], headers=headers):
                        raise AssertionError(f"{target} accepted a charger without valid credentials")
                except AssertionError:
                    raise
                except Exception as refused:
                    assert "401" in str(refused) or type(refused).__name__ in (
                        "WebSocketDisconnect",
                        "WebSocketDenialResponse",
                    )
