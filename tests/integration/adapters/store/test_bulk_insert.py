"""The bulk insert of the hot write paths against the real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError

from charging_db import registered_charge_point
from voltbill.adapters.store import bulk
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.tables.sessions import ConnectorStatusHistoryRow as History
from voltbill.domain.clock import FixedClock

AT = datetime(2025, 3, 4, 12, 0, 0, 123_456, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> tuple[Database, str]:
    return registered_charge_point(database_url, FixedClock(AT))


def _rows(cp: str, error_code: str | None, count: int = 1) -> list[dict[str, object]]:
    return [
        {
            "charge_point_id": cp,
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


def test_rows_come_back_exactly_and_a_replay_adds_nothing(store: tuple[Database, str]) -> None:
    db, cp = store
    rows = _rows(cp, "GroundFailure", count=300)
    with db.uow() as uow:
        bulk.insert_ignoring_duplicates(uow.session, History.__table__, rows)
        uow.commit()
    with db.uow() as uow:
        bulk.insert_ignoring_duplicates(uow.session, History.__table__, rows[:5])  # a replay of some of them
        uow.commit()
    assert _stored(db) == [(1, r["connector_id"], "GroundFailure", r["timestamp"]) for r in rows]


def test_a_value_longer_than_its_column_is_never_stored_cut_short(store: tuple[Database, str]) -> None:
    db, cp = store
    too_long = "E" * 65  # error_code is VARCHAR(64)
    try:
        with db.uow() as uow:
            bulk.insert_ignoring_duplicates(uow.session, History.__table__, _rows(cp, too_long))
            uow.commit()
    except DataError:  # PostgreSQL enforces the length, as a plain INSERT would
        assert db.engine.dialect.name == "postgresql"
        assert _stored(db) == []
    else:  # SQLite does not enforce lengths: the value is kept whole
        assert db.engine.dialect.name == "sqlite"
        assert _stored(db) == [(1, 2, too_long, AT)]
