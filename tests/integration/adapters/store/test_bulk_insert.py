"""The bulk insert of the hot write paths against the real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError

from voltbill.adapters.store import bulk
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.sessions import ConnectorStatusHistoryRow as History
from voltbill.domain.clock import FixedClock
from voltbill.services import registry
from voltbill.services.access import ensure_operator

AT = datetime(2025, 3, 4, 12, 0, 0, 123_456, tzinfo=UTC)
CP = "CP-BULK"
LOCATION = {
    "address": "Kade 1",
    "city": "Amsterdam",
    "country": "NLD",
    "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
    "time_zone": "Europe/Amsterdam",
}


@pytest.fixture
def db(database_url: str) -> Database:
    migrate(database_url)
    database = Database(database_url)
    clock = FixedClock(AT)
    with database.uow() as uow:  # status history rows belong to a charge point
        ensure_operator(uow, "default", clock=clock)
        tariff = {
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": "0.20", "step_size": 1}]}],
        }
        registry.upsert_tariff(uow, "default", "T1", tariff, clock=clock)
        registry.upsert_charge_point(uow, "default", CP, password=None, tariff_id="T1", location=LOCATION, clock=clock)
    return database


def _rows(error_code: str | None, count: int = 1) -> list[dict[str, object]]:
    return [
        {
            "charge_point_id": CP,
            "evse_id": 1,
            "connector_id": 2 + i,
            "status": "Faulted",
            "error_code": error_code,
            "timestamp": AT + timedelta(seconds=i),
        }
        for i in range(count)
    ]


def _stored(db: Database) -> list[tuple[object, ...]]:
    with db.uow() as uow:
        query = sa.select(History.evse_id, History.connector_id, History.error_code, History.timestamp)
        return [tuple(row) for row in uow.session.execute(query.order_by(History.timestamp)).all()]


def test_rows_come_back_exactly_and_a_replay_adds_nothing(db: Database) -> None:
    rows = _rows("GroundFailure", count=300)
    with db.uow() as uow:
        bulk.insert_ignoring_duplicates(uow.session, History.__table__, rows)
        uow.commit()
    with db.uow() as uow:
        bulk.insert_ignoring_duplicates(uow.session, History.__table__, rows[:5])  # a replay of some of them
        uow.commit()
    assert _stored(db) == [(1, r["connector_id"], "GroundFailure", r["timestamp"]) for r in rows]


def test_a_value_longer_than_its_column_is_never_stored_cut_short(db: Database) -> None:
    too_long = "E" * 65  # error_code is VARCHAR(64)
    try:
        with db.uow() as uow:
            bulk.insert_ignoring_duplicates(uow.session, History.__table__, _rows(too_long))
            uow.commit()
    except DataError:  # PostgreSQL enforces the length, as a plain INSERT would
        assert db.engine.dialect.name == "postgresql"
        assert _stored(db) == []
    else:  # SQLite does not enforce lengths: the value is kept whole
        assert db.engine.dialect.name == "sqlite"
        assert _stored(db) == [(1, 2, too_long, AT)]
