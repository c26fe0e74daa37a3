"""Mount the web pages on an app: static files (styles, scripts, the vendored chart library), the routers, and
HTML error pages for people (the REST API keeps its JSON problems)."""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from voltbill.api.dashboard import analytics_pages, driver_pages, invoice_pages, operator_pages, tariff_pages
from voltbill.api.dashboard.templating import STATIC_DIR, STATIC_PREFIX, templates
from voltbill.api.errors import Forbidden
from voltbill.domain.errors import InvalidInput, NotFound, VoltbillError

PAGE_PREFIXES = ("/dashboard", "/driver")
PAGE_ERRORS = {NotFound: (404, "Not found"), Forbidden: (403, "Not allowed"), InvalidInput: (400, "Check the address")}


def install_dashboard(app: FastAPI) -> None:
    """Add ``/static``, the operator dashboard (``/``, ``/dashboard/...``) and the driver pages (``/driver/...``)."""
    if not any(getattr(route, "path", None) == STATIC_PREFIX for route in app.routes):
        app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    for module in (operator_pages, tariff_pages, invoice_pages, analytics_pages, driver_pages):
        app.include_router(module.router)
    json_problem = app.exception_handlers.get(VoltbillError)

    async def page_or_problem(request: Request, exc: Exception) -> Response:
        """A readable page for a person's browser on the web pages; the JSON problem everywhere else."""
        known = next((v for k, v in PAGE_ERRORS.items() if isinstance(exc, k)), None)
        wants_page = "text/html" in request.headers.get("accept", "")
        if known and wants_page and request.url.path.startswith(PAGE_PREFIXES):
            status, title = known
            context = {"title": title, "message": str(exc), "home_url": "/", "charts": False}
            return templates.TemplateResponse(request, "dashboard/error.html", context, status_code=status)
        assert json_problem is not None
        answer = json_problem(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    if json_problem is not None:
        app.add_exception_handler(VoltbillError, page_or_problem)
