"""Web sign-in for the pages: ``/login``, ``/logout``, a signed session cookie, CSRF tokens, login throttling.

Pages depend on ``current_user`` (a ``Caller`` with role ``operator_admin``, ``operator_staff`` or ``driver``) or
``require_role(...)``; forms carry ``csrf_token_for(request)`` in a hidden ``csrf_token`` field and their POST
routes depend on ``CsrfDep``. Cookies are HttpOnly, SameSite=Lax and Secure when the request came over https.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from voltbill.api.deps import DbDep
from voltbill.api.errors import Forbidden, Unauthorized, problem
from voltbill.services.access import Caller
from voltbill.services.users import authenticate_user, get_user

SESSION_COOKIE = "voltbill_session"
CSRF_COOKIE = "voltbill_csrf"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(tags=["web sign-in"], include_in_schema=False)


class LoginRequired(Unauthorized):
    """No valid session: pages redirect to ``/login``, other requests get 401 JSON."""

    code = "login_required"


class LoginThrottle:
    """At most ``per_account`` failed logins per e-mail+address and ``per_address`` per client address within
    ``window_s``; successful logins clear the account's count. In-process (one server) by design."""

    def __init__(self, per_account: int = 5, per_address: int = 20, window_s: float = 900.0) -> None:
        self.per_account, self.per_address, self.window_s = per_account, per_address, window_s
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, address: str, email: str) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        now = time.monotonic()
        with self._lock:
            waits = [
                q[0] + self.window_s - now
                for q, limit in (
                    (self._recent(f"a:{address}", now), self.per_address),
                    (self._recent(f"e:{address}:{email}", now), self.per_account),
                )
                if len(q) >= limit
            ]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, address: str, email: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[f"a:{address}"].append(now)
            self._failures[f"e:{address}:{email}"].append(now)

    def succeeded(self, address: str, email: str) -> None:
        with self._lock:
            self._failures.pop(f"e:{address}:{email}", None)


def _signer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.session_secret, salt=salt)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=_secure(request), httponly=True, samesite="lax")


# --- CSRF ----------------------------------------------------------------------------------------------------


def _cookie_csrf(request: Request) -> str | None:
    raw = request.cookies.get(CSRF_COOKIE)
    if not raw:
        return None
    try:
        token = _signer(request, "csrf").loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def csrf_token_for(request: Request) -> str:
    """The CSRF token to put in this page's forms (a cookie carrying it is set on the response if needed)."""
    token = getattr(request.state, "csrf_token", None) or _cookie_csrf(request)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.csrf_new = token
    request.state.csrf_token = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse a state-changing request whose form field (or X-CSRF-Token header) does not match the cookie."""
    expected = _cookie_csrf(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden(
            "the form has expired or was not sent by voltbill; reload the page and retry.", code="csrf_failed"
        )


CsrfDep = Annotated[None, Depends(verify_csrf)]


class WebSecurityMiddleware(BaseHTTPMiddleware):
    """Sets the CSRF cookie when a page handed out a new token, and the security headers on every response.

    A route that needs another Content-Security-Policy (e.g. a payment provider's script) sets its own header;
    it is kept. ``/docs`` gets a policy that allows the Swagger UI assets.
    """

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    DOCS_CSP = (
        "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
        "object-src 'none'; frame-ancestors 'none'"
    )

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        new_token = getattr(request.state, "csrf_new", None)
        if new_token is not None:
            _set_cookie(request, response, CSRF_COOKIE, _signer(request, "csrf").dumps(new_token))
        docs = request.url.path.startswith(("/docs", "/redoc"))
        headers = response.headers
        headers.setdefault("Content-Security-Policy", self.DOCS_CSP if docs else self.CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if _secure(request):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


# --- sessions ------------------------------------------------------------------------------------------------


def current_user(request: Request, db: DbDep) -> Caller:
    """The signed-in user, or ``LoginRequired`` (pages redirect to the login form)."""
    raw = request.cookies.get(SESSION_COOKIE)
    data: Any = None
    if raw:
        try:
            data = _signer(request, "session").loads(raw, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            data = None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        raise LoginRequired("sign in first.")
    with db.uow() as uow:
        user = get_user(uow, data["uid"])
    if user is None or not secrets.compare_digest(user.stamp, str(data.get("stamp", ""))):
        raise LoginRequired("your session has ended; sign in again.")
    return Caller(operator_id=user.operator_id, role=user.role, subject=user.email, driver_id=user.driver_id)


UserDep = Annotated[Caller, Depends(current_user)]


def require_role(*roles: str) -> Callable[[Caller], Caller]:
    """A dependency that lets only users with one of ``roles`` through (403 for the others)."""

    def check(user: UserDep) -> Caller:
        if user.role not in roles:
            raise Forbidden(f"this page needs the role {' or '.join(roles)}.", code="role_required")
        return user

    return check


def _login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    wants_page = request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")
    if wants_page:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return problem(401, exc.code, exc.message)


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: refuse ``//host``, ``/\\host`` and absolute URLs (open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    return target


def _home(request: Request, role: str) -> str:
    name = "driver_sessions" if role == "driver" else "dashboard_overview"
    try:
        return str(request.app.url_path_for(name))
    except Exception:
        return "/"


def _login_page(
    request: Request, *, error: str | None = None, email: str = "", next_url: str = "", status: int = 200
) -> HTMLResponse:
    context = {"csrf_token": csrf_token_for(request), "error": error, "email": email, "next": next_url}
    return templates.TemplateResponse(request, "auth/login.html", context, status_code=status)


@router.get("/login", response_class=HTMLResponse, name="login")
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next_url=_safe_next(next) or "")


@router.post("/login", response_class=HTMLResponse, name="login_submit")
def login(
    request: Request,
    db: DbDep,
    _csrf: CsrfDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    email = email.strip().lower()
    wait = throttle.retry_after(address, email)
    if wait:
        page = _login_page(
            request,
            error=f"Too many failed attempts; try again in {wait // 60 + 1} minutes.",
            email=email,
            next_url=next,
            status=429,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    user = authenticate_user(db, email, password)
    if user is None:
        throttle.failed(address, email)
        return _login_page(request, error="Wrong e-mail or password.", email=email, next_url=next, status=401)
    throttle.succeeded(address, email)
    response = RedirectResponse(_safe_next(next) or _home(request, user.role), status_code=303)
    session = _signer(request, "session").dumps({"uid": user.id, "stamp": user.stamp})
    _set_cookie(request, response, SESSION_COOKIE, session, max_age=SESSION_MAX_AGE_S)
    # A fresh CSRF token after sign-in, so a token planted before login is worthless.
    _set_cookie(request, response, CSRF_COOKIE, _signer(request, "csrf").dumps(secrets.token_urlsafe(32)))
    return response


def _logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=_secure(request), httponly=True, samesite="lax")
    return response


@router.post("/logout", name="logout")
def logout(request: Request, _csrf: CsrfDep) -> Response:
    return _logout(request)


@router.get("/logout", name="logout_link")
def logout_link(request: Request) -> Response:
    return _logout(request)


def install_web_auth(app: FastAPI, secret: str) -> None:
    """Add the sign-in routes, the security middleware and the login-redirect handler to ``app``."""
    app.state.session_secret = secret
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(WebSecurityMiddleware)
    app.add_exception_handler(LoginRequired, _login_redirect)
    app.include_router(router)
