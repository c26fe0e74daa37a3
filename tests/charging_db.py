"""A migrated store with one operator, a flat energy tariff and a registered charge point: what the charging use
cases and the bulk insert need before a session or a status can be written."""

from __future__ import annotations

import secrets

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.domain.clock import Clock
from voltbill.services import registry
from voltbill.services.access import ensure_operator

LOCATION = {
    "address": "Kade 1",
    "city": "Amsterdam",
    "country": "NLD",
    "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
    "time_zone": "Europe/Amsterdam",
}
TARIFF = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.20", "step_size": 1}]}]}


def registered_charge_point(database_url: str, clock: Clock) -> tuple[Database, str]:
    """Migrate ``database_url`` and register a charge point (random id) priced by tariff ``T1``."""
    migrate(database_url)
    db = Database(database_url)
    cp = f"CP-{secrets.token_hex(3)}"
    with db.uow() as uow:
        ensure_operator(uow, "default", clock=clock)
        registry.upsert_tariff(uow, "default", "T1", TARIFF, clock=clock)
        registry.upsert_charge_point(uow, "default", cp, password=None, tariff_id="T1", location=LOCATION, clock=clock)
    return db, cp
