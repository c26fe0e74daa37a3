"""Registers the simulated chargers, a driver per charger, their id tokens and a tariff through the REST API,
so ``voltbill simulate --register`` works against a fresh server. Every call is a PUT or carries an idempotency key,
so reruns are harmless.

The drivers pay by monthly invoice unless ``payment_methods`` says otherwise: charger *i* of the list gets the
method ``payment_methods[i % len(payment_methods)]``; a wallet driver's wallet is topped up with ``WALLET_TOP_UP``,
a card driver gets the card ``card(driver_id)`` returns (by default the sandbox gateway's accepted test card).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
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
WALLET_TOP_UP = {"amount": "500.00", "currency": "EUR"}
SANDBOX_CARD = ("sandbox", "pm_sandbox_ok_4242")  # (provider, payment method id) the sandbox gateway accepts
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
    payment_methods: Sequence[str] = ("invoice",),
    card: Callable[[str], tuple[str, str]] = lambda _driver_id: SANDBOX_CARD,
) -> int:
    """PUT the tariff, each charge point (password, tariff, location), a driver per charger (``driver_id_of``) and
    its token; top up wallets and put cards on file as ``payment_methods`` says (module docstring).

    Returns the number of chargers registered; raises ``VoltbillError`` naming the first refused call."""
    base = api_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def call(path: str, body: dict[str, Any], method: str = "PUT", key: str | None = None) -> None:
            async with limit:
                for attempt in range(ATTEMPTS):  # every call is idempotent: a busy server is simply asked again
                    try:
                        extra = {"Idempotency-Key": key} if key else None
                        response = await client.request(method, path, json=body, headers=extra)
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
                    f"{method} {path} answered {response.status_code}: {response.text[:300]}", code="register_failed"
                )

        await call(f"/api/v1/tariffs/{tariff_id}", SIM_TARIFF)
        specs = list(chargers)

        async def one(index: int, spec: ChargerSpec) -> None:
            driver_id = driver_id_of(spec)
            method = payment_methods[index % len(payment_methods)]
            await call(
                f"/api/v1/charge-points/{spec.charger_id}",
                {"password": spec.password, "tariff_id": tariff_id, "location": SIM_LOCATION},
            )
            await call(
                f"/api/v1/drivers/{driver_id}",
                {
                    "name": f"Driver {spec.charger_id}",
                    "email": f"{driver_id.lower()}@example.com",
                    "payment_method": method,
                },
            )
            await call(f"/api/v1/drivers/{driver_id}/tokens/{spec.id_tag}", {"type": "RFID"})
            if method == "wallet":
                path = f"/api/v1/drivers/{driver_id}/wallet/top-ups"
                await call(path, WALLET_TOP_UP, method="POST", key=f"sim-top-up-{driver_id}")
            elif method == "card":
                provider, payment_method_id = card(driver_id)
                body = {"provider": provider, "payment_method_id": payment_method_id}
                await call(f"/api/v1/drivers/{driver_id}/card", body)

        if specs:  # the first one alone creates the shared location; concurrent first PUTs race on it
            await one(0, specs[0])
        await asyncio.gather(*(one(index, spec) for index, spec in enumerate(specs) if index))
    return len(specs)


def driver_id_of(spec: ChargerSpec) -> str:
    """The simulated driver who charges at ``spec``'s charger."""
    return f"{spec.charger_id}-driver"
