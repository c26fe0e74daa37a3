"""The registry store on SQLite and PostgreSQL: schema, tenants, racing upserts, charger password cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.metadata import Base
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables import registry as registry_tables
from voltbill.domain.clock import SystemClock
from voltbill.domain.errors import Conflict
from voltbill.services import registry
from voltbill.services.access import ensure_operator
from voltbill.services.charger_auth import verified_passwords

CLOCK = SystemClock()
LOCATION = {
    "name": "Depot",
    "address": "Kade 1",
    "city": "Amsterdam",
    "postal_code": "1011AB",
    "country": "NLD",
    "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
    "time_zone": "Europe/Amsterdam",
}
TARIFF = {"currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": "2.00", "step_size": 60}]}]}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate(database_url)
    database = Database(database_url)
    with database.uow() as uow:
        ensure_operator(uow, "acme", clock=CLOCK)
        ensure_operator(uow, "rival", clock=CLOCK)
    yield database
    database.dispose()


def test_the_registry_migration_creates_exactly_the_declared_tables(db: Database) -> None:
    registry_table_names = {
        t.name for t in Base.metadata.sorted_tables if t.name in {m.__tablename__ for m in _registry_models()}
    }
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    ours = [d for d in diffs if _table_of(d) in registry_table_names]
    assert ours == []


def _registry_models() -> list[Any]:
    return [
        obj
        for obj in vars(registry_tables).values()
        if isinstance(obj, type) and issubclass(obj, Base) and obj is not Base and hasattr(obj, "__tablename__")
    ]


def _table_of(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
        if isinstance(name, str):
            return name
    return None


def test_another_operator_can_neither_take_over_nor_read_a_registered_id(db: Database) -> None:
    with db.uow() as uow:
        registry.upsert_driver(uow, "acme", "D-1", name="Ana", email="a@acme.test", payment_method="card", clock=CLOCK)
        with pytest.raises(Conflict) as taken:
            registry.upsert_driver(
                uow, "rival", "D-1", name="Eve", email="e@rival.test", payment_method="card", clock=CLOCK
            )
        assert taken.value.code == "id_taken"
        assert registry.get_driver(uow, "D-1", operator_id="rival") is None
        assert registry.list_drivers(uow, "rival").items == []
        info = registry.get_driver(uow, "D-1")
        assert info is not None and info.email == "a@acme.test"


def test_a_token_presented_at_another_operators_charger_is_invalid(db: Database) -> None:
    with db.uow() as uow:
        registry.upsert_driver(uow, "acme", "D-1", name="Ana", email="a@acme.test", payment_method="card", clock=CLOCK)
        registry.upsert_token(uow, "acme", "D-1", "TOK-1", type="RFID", clock=CLOCK)
        registry.upsert_charge_point(uow, "acme", "CP-A", password=None, tariff_id=None, location=LOCATION, clock=CLOCK)
        registry.upsert_charge_point(
            uow, "rival", "CP-R", password=None, tariff_id=None, location=LOCATION, clock=CLOCK
        )
        assert registry.authorize_id_token(uow, "TOK-1", charge_point_id="CP-A").status == "Accepted"
        assert registry.authorize_id_token(uow, "TOK-1", charge_point_id="CP-R").status == "Invalid"


def test_racing_identical_tariff_puts_store_one_version(db: Database) -> None:
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def put() -> None:
        try:
            barrier.wait()
            with db.uow() as uow:
                record, created = registry.upsert_tariff(uow, "acme", "T-1", TARIFF, clock=CLOCK)
                results.append((record.version, created))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [(1, False), (1, False), (1, False), (1, True)]
    with db.uow() as uow:
        assert [v.version for v in registry.tariff_versions(uow, "acme", "T-1")] == [1]


def test_a_verified_charger_password_is_remembered_until_the_password_changes(db: Database) -> None:
    verified_passwords.clear()
    with db.uow() as uow:
        registry.upsert_charge_point(
            uow, "acme", "CP-1", password="first-password-16", tariff_id=None, location=LOCATION, clock=CLOCK
        )
        started = time.perf_counter()
        assert registry.verify_charger_password(uow, "CP-1", "first-password-16")
        first = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(20):
            assert registry.verify_charger_password(uow, "CP-1", "first-password-16")
        cached = time.perf_counter() - started
        assert cached < first, f"20 cached checks took {cached:.3f}s, one argon2 check {first:.3f}s"
        assert not registry.verify_charger_password(uow, "CP-1", "wrong-password-16")
        registry.upsert_charge_point(
            uow, "acme", "CP-1", password="second-password-16", tariff_id=None, location=LOCATION, clock=CLOCK
        )
        assert not registry.verify_charger_password(uow, "CP-1", "first-password-16")
        assert registry.verify_charger_password(uow, "CP-1", "second-password-16")


def test_a_charger_without_password_connects_only_if_its_operator_allows_it(db: Database) -> None:
    with db.uow() as uow:
        registry.upsert_charge_point(
            uow, "acme", "CP-OPEN", password=None, tariff_id=None, location=LOCATION, clock=CLOCK
        )
        assert not registry.verify_charger_password(uow, "CP-OPEN", None)
        ensure_operator(uow, "acme", clock=CLOCK, allow_unauthenticated_chargers=True)
        assert registry.verify_charger_password(uow, "CP-OPEN", None)
        assert not registry.verify_charger_password(uow, "CP-NEVER-REGISTERED", None)
