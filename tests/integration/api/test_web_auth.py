"""Web sign-in: login form with CSRF, signed session cookie, roles, throttling, logout, security headers."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from voltbill.api.auth import UserDep, require_role
from voltbill.domain.clock import SystemClock
from voltbill.services.access import Caller
from voltbill.services.registry import upsert_driver
from voltbill.services.users import create_user

PASSWORD = "correct horse battery"


@pytest.fixture
def web_app(api_app: FastAPI) -> FastAPI:
    """The real app plus two probe pages that use the real dependencies."""

    @api_app.get("/probe/me")
    def me(user: UserDep) -> dict[str, Any]:
        return {"email": user.subject, "role": user.role, "driver_id": user.driver_id, "operator": user.operator_id}

    @api_app.get("/probe/admin")
    def admin_only(user: Annotated[Caller, Depends(require_role("operator_admin"))]) -> dict[str, str]:
        return {"ok": user.subject}

    with api_app.state.db.uow() as uow:
        create_user(uow, email="Admin@Example.com", password=PASSWORD, role="operator_admin", clock=SystemClock())
        upsert_driver(
            uow, "default", "D-1", name="Ana", email="ana@example.com", payment_method="card", clock=SystemClock()
        )
        create_user(
            uow, email="ana@example.com", password=PASSWORD, role="driver", driver_id="D-1", clock=SystemClock()
        )
    return api_app


@pytest.fixture
async def browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test") as client:
        yield client


async def _csrf(browser: httpx.AsyncClient) -> str:
    page = await browser.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


async def _login(browser: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    token = await _csrf(browser)
    return await browser.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


async def test_signing_in_sets_an_httponly_lax_session_cookie_and_identifies_the_user(
    browser: httpx.AsyncClient,
) -> None:
    r = await _login(browser, "admin@example.com", next="/probe/me")
    assert r.status_code == 303
    assert r.headers["location"] == "/probe/me"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("voltbill_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    me = (await browser.get("/probe/me")).json()
    assert me == {"email": "admin@example.com", "role": "operator_admin", "driver_id": None, "operator": "default"}


async def test_the_session_cookie_is_secure_over_https(web_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://voltbill.test") as browser:
        r = await _login(browser, "admin@example.com")
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("voltbill_session="))
    assert "Secure" in cookie
    assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_a_login_without_the_forms_csrf_token_is_refused(browser: httpx.AsyncClient) -> None:
    await browser.get("/login")
    r = await browser.post("/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert r.json()["code"] == "csrf_failed"


async def test_a_wrong_password_shows_the_form_again_with_401(browser: httpx.AsyncClient) -> None:
    r = await _login(browser, "admin@example.com", "wrong password!")
    assert r.status_code == 401
    assert "Wrong e-mail or password" in r.text
    assert (await browser.get("/probe/me")).status_code == 401


async def test_pages_redirect_anonymous_browsers_to_the_login_form(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/probe/me?x=1", headers={"Accept": "text/html"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fprobe%2Fme%3Fx%3D1"
    assert (await browser.get("/probe/me")).json()["code"] == "login_required"


async def test_a_driver_is_linked_to_their_driver_record_and_kept_out_of_admin_pages(
    browser: httpx.AsyncClient,
) -> None:
    await _login(browser, "ana@example.com")
    assert (await browser.get("/probe/me")).json()["driver_id"] == "D-1"
    denied = await browser.get("/probe/admin")
    assert denied.status_code == 403
    assert denied.json()["code"] == "role_required"


async def test_next_never_redirects_to_another_site(browser: httpx.AsyncClient) -> None:
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        r = await _login(browser, "admin@example.com", next=target)
        assert r.status_code == 303
        assert "evil" not in r.headers["location"]


async def test_logging_out_ends_the_session(browser: httpx.AsyncClient) -> None:
    await _login(browser, "admin@example.com")
    token = await _csrf(browser)
    r = await browser.post("/logout", data={"csrf_token": token})
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert (await browser.get("/probe/me")).status_code == 401


async def test_repeated_failed_logins_are_throttled(browser: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await _login(browser, "admin@example.com", "wrong password!")).status_code == 401
    blocked = await _login(browser, "admin@example.com")
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


async def test_every_response_carries_the_security_headers(browser: httpx.AsyncClient) -> None:
    for path in ("/login", "/healthz", "/api/v1/drivers"):
        headers = (await browser.get(path)).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    docs = await browser.get("/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_voltbill_users_create_makes_a_user_and_refuses_a_second_with_the_same_email(
    sqlite_url: str, tmp_path: Any
) -> None:
    env = {"VOLTBILL_DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin"}
    args = ["users", "create", "--email", "staff@example.com", "--role", "operator_staff", "--password", PASSWORD]
    done = subprocess.run(
        [sys.executable, "-m", "voltbill", *args], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "created user staff@example.com (operator_staff)" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "voltbill", *args], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 1
    assert again.stderr.strip() == "error: email: a user with e-mail staff@example.com exists already."
