"""Mount the web pages on an app: static files (styles, scripts, the vendored chart library) and the routers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from voltbill.api.dashboard import analytics_pages, driver_pages, invoice_pages, operator_pages, tariff_pages
from voltbill.api.dashboard.templating import STATIC_DIR, STATIC_PREFIX


def install_dashboard(app: FastAPI) -> None:
    """Add ``/static``, the operator dashboard (``/``, ``/dashboard/...``) and the driver pages (``/driver/...``)."""
    if not any(getattr(route, "path", None) == STATIC_PREFIX for route in app.routes):
        app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    for module in (operator_pages, tariff_pages, invoice_pages, analytics_pages, driver_pages):
        app.include_router(module.router)
