"""Fixtures for the REST API tests: a migrated app on SQLite and PostgreSQL and an httpx client speaking HTTP to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from voltbill.api.app import create_app
from voltbill.config import Settings

ADMIN_KEY = "vb_test_admin_key_0123456789abcdef"


@pytest.fixture
def api_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_key=ADMIN_KEY, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def api_app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated with the VOLTBILL_API_KEY operator key."""
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://voltbill.test", headers=headers) as client:
        yield client
    api_app.state.db.dispose()


class Bodies:
    """Valid request bodies for the registry calls; keyword arguments override fields."""

    @staticmethod
    def tariff(price: Any = "0.25", **extra: Any) -> dict[str, Any]:
        """A one-component OCPI 2.2.1 energy tariff."""
        component = {"type": "ENERGY", "price": price, "vat": 21, "step_size": 1}
        return {"currency": "EUR", "elements": [{"price_components": [component]}], **extra}

    @staticmethod
    def location(**extra: Any) -> dict[str, Any]:
        return {
            "name": "Harbour car park",
            "address": "Kade 1",
            "city": "Amsterdam",
            "postal_code": "1011AB",
            "country": "NLD",
            "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
            "time_zone": "Europe/Amsterdam",
            **extra,
        }

    @classmethod
    def charge_point(cls, tariff_id: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"password": "ocpp-password-0123", "tariff_id": tariff_id, "location": cls.location(), **extra}

    @staticmethod
    def driver(**extra: Any) -> dict[str, Any]:
        return {"name": "Ana Lima", "email": "ana@example.com", "payment_method": "wallet", **extra}


@pytest.fixture
def bodies() -> type[Bodies]:
    return Bodies
