"""The FastAPI application factory: REST API, web pages, OCPP endpoint, all on one server.

``create_app`` brings the database schema up to date (Alembic) and makes sure the default operator exists, and
the ``VOLTBILL_API_KEY`` operator key if that is set, before it returns, so any client (uvicorn, tests, the demo)
finds a ready database. Other areas add their router with one ``include_router`` line and their event consumers
with one ``subscribe(app.state)`` line below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from voltbill import __version__
from voltbill.adapters.ocpp.server import install_ocpp
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.api import analytics as analytics_api
from voltbill.api import cdrs, charge_points, commands, drivers, health, pay_page, sessions, tariffs
from voltbill.api import invoices as invoices_api
from voltbill.api import payments as payments_api
from voltbill.api import pending as pending_api
from voltbill.api.auth import install_web_auth
from voltbill.api.dashboard.install import install_dashboard
from voltbill.api.errors import install_error_handlers
from voltbill.config import Settings, get_settings
from voltbill.domain.clock import Clock, SystemClock
from voltbill.services import invoicing, payment_events, payments
from voltbill.services.access import bootstrap, instance_secret
from voltbill.services.events import EventBus


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """A ready voltbill app for ``settings`` (default: the environment); ``clock`` defaults to the system clock
    (the demo seeder passes one it moves through the history)."""
    settings = settings or get_settings()
    migrate(settings.database_url)
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    with db.uow() as uow:
        bootstrap(uow, settings, clock=clock)
        session_secret = instance_secret(uow, "session_signing_key")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ocpp.start()
        payment_events.ensure_worker(app.state.payments)  # durable capture retries run without waiting for a request
        yield
        if app.state.payments.worker is not None:
            app.state.payments.worker.cancel()
        await app.state.ocpp.stop()
        db.dispose()

    app = FastAPI(
        title="voltbill",
        version=__version__,
        description="EV-charging billing: OCPP in, OCPI-priced CDRs, payments, invoices and analytics out.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.bus = EventBus()
    app.state.clock = clock
    app.state.start_checks: list[Callable[..., Any]] = []
    install_error_handlers(app)
    install_web_auth(app, session_secret)

    app.include_router(health.router)
    app.include_router(tariffs.router)
    app.include_router(charge_points.router)
    app.include_router(drivers.router)
    install_ocpp(app)
    app.include_router(sessions.router)
    app.include_router(cdrs.router)
    app.include_router(commands.router)
    app.include_router(payments_api.router)
    app.include_router(pay_page.router)
    payments.subscribe(app.state)
    app.include_router(invoices_api.router)
    invoicing.subscribe(app.state)
    app.include_router(analytics_api.router)
    app.include_router(pending_api.router)
    install_dashboard(app)
    return app
