"""Registers the simulated chargers, a driver per charger, their id tokens and a tariff through the REST API,
so ``voltbill simulate --register`` works against a fresh server. Every call is a PUT, so reruns are harmless."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx

from voltbill.domain.errors import VoltbillError
from voltbill.simulator.config import ChargerSpec

SIM_TARIFF_ID = "SIM-AC-DC"
ATTEMPTS = 4
# OCPI 2.2.1 mod_tariffs: 0.35 EUR/kWh billed per Wh, 0.10 EUR/min parking after charging, 19 % VAT.
SIM_TARIFF: dict[str, Any] = {
    "currency": "EUR",
    "type": "REGULAR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.35", "vat": "19", "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": "6.00", "vat": "19", "step_size": 60}]},
    ],
}
SIM_LOCATION: dict[str, Any] = {
    "name": "Simulated charging park",
    "address": "Teststraat 1",
    "city": "Amsterdam",
    "postal_code": "1011AA",
    "country": "NLD",
    "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
    "time_zone": "Europe/Amsterdam",
}


async def register(
    api_url: str,
    api_key: str,
    chargers: Iterable[ChargerSpec],
    *,
    tariff_id: str = SIM_TARIFF_ID,
    concurrency: int = 16,
) -> int:
    """PUT the tariff, each charge point (password, tariff, location), a driver per charger and its token.

    Returns the number of chargers registered; raises ``VoltbillError`` naming the first refused call."""
    base = api_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def put(path: str, body: dict[str, Any]) -> None:
            async with limit:
                for attempt in range(ATTEMPTS):  # PUT is idempotent: a busy server is simply asked again
                    try:
                        response = await client.put(path, json=body)
                        break
                    except httpx.HTTPError as exc:
                        if attempt == ATTEMPTS - 1:
                            problem = f"{type(exc).__name__} {exc}".strip()
                            raise VoltbillError(
                                f"cannot reach {base}{path}: {problem}", code="register_failed"
                            ) from exc
                        await asyncio.sleep(2**attempt)
            if response.status_code >= 400:
                raise VoltbillError(
                    f"PUT {path} answered {response.status_code}: {response.text[:300]}", code="register_failed"
                )

        await put(f"/api/v1/tariffs/{tariff_id}", SIM_TARIFF)
        specs = list(chargers)

        async def one(spec: ChargerSpec) -> None:
            driver_id = f"{spec.charger_id}-driver"
            await put(
                f"/api/v1/charge-points/{spec.charger_id}",
                {"password": spec.password, "tariff_id": tariff_id, "location": SIM_LOCATION},
            )
            await put(
                f"/api/v1/drivers/{driver_id}",
                {
                    "name": f"Driver {spec.charger_id}",
                    "email": f"{driver_id.lower()}@example.com",
                    "payment_method": "invoice",
                },
            )
            await put(f"/api/v1/drivers/{driver_id}/tokens/{spec.id_tag}", {"type": "RFID"})

        if specs:  # the first one alone creates the shared location; concurrent first PUTs race on it
            await one(specs[0])
        await asyncio.gather(*(one(spec) for spec in specs[1:]))
    return len(specs)
