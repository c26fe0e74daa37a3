"""Charging use cases against the real store (SQLite and PostgreSQL): the batch writer's idempotency and
matching rules, and the session sweeper."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from charging_db import LOCATION, registered_charge_point
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.tables.sessions import (
    ConnectorStatusHistoryRow,
    ConnectorStatusRow,
    MeterValueRow,
    SessionRow,
)
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import NotFound
from voltbill.domain.sessions import ENERGY_REGISTER, Sample
from voltbill.services import charging, registry
from voltbill.services.charging import ChargingContext, StartSession, TransactionUpdate
from voltbill.services.events import EventBus

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def prepared(database_url: str) -> tuple[Database, ChargingContext, str, list[dict[str, object]]]:
    clock = FixedClock(NOW)
    db, cp = registered_charge_point(database_url, clock)
    bus, events = EventBus(), []
    bus.subscribe("session.priced", events.append)
    return db, ChargingContext(bus=bus, clock=clock), cp, events


def energy(minutes: int, wh: int) -> Sample:
    return Sample(NOW - timedelta(minutes=60 - minutes), ENERGY_REGISTER, "", Decimal(wh), "Wh")


def test_a_replayed_batch_of_meter_values_changes_nothing(database_url: str) -> None:
    db, ctx, cp, _ = prepared(database_url)
    with db.uow() as uow:
        started = charging.start_session(
            uow, ctx, StartSession(cp, "ocpp1.6", 1, 1, NOW - timedelta(hours=1), Decimal(0), id_token="X")
        )
    update = TransactionUpdate(cp, started.transaction_id, 1, (energy(10, 1000), energy(20, 2000)))
    connector_level = TransactionUpdate(cp, None, 1, (energy(30, 3000),))  # 1.6 MeterValues without transactionId
    unknown = TransactionUpdate(cp, "999", 1, (energy(30, 3000),))
    with db.uow() as uow:
        assert charging.record_transaction_updates(uow, ctx, [update, update, connector_level, unknown]) == 3
    with db.uow() as uow:
        assert charging.record_transaction_updates(uow, ctx, [update, connector_level]) == 2
    with db.uow() as uow:
        stored = uow.session.scalar(select(func.count()).where(MeterValueRow.session_id == started.session_id))
        assert stored == 3


def test_a_batch_stores_samples_and_statuses_exactly_as_reported(database_url: str) -> None:
    db, ctx, cp, _ = prepared(database_url)
    with db.uow() as uow:
        started = charging.start_session(
            uow, ctx, StartSession(cp, "ocpp1.6", 1, 1, NOW - timedelta(hours=1), Decimal(0), id_token="X")
        )
    at = NOW - timedelta(minutes=30, microseconds=250_000)
    samples = (
        Sample(at, ENERGY_REGISTER, "", Decimal("12345.6789"), "Wh", "Sample.Periodic"),
        Sample(at, "Power.Active.Import", "L1", Decimal("7100.10")),  # no unit, no context: NULLs
        Sample(at, "Power.Active.Import", "L1", Decimal("9999")),  # same key in the same batch: skipped
    )
    statuses = [
        charging.StatusChange(cp, 1, 1, "Charging", at),  # no error code in the whole batch: a column of NULLs
        charging.StatusChange(cp, 1, 1, "Charging", at),
    ]
    with db.uow() as uow:
        charging.record_batch(uow, ctx, [*statuses, TransactionUpdate(cp, started.transaction_id, 1, samples)])
    with db.uow() as uow:
        meter = MeterValueRow
        stored = uow.session.execute(
            select(meter.timestamp, meter.measurand, meter.phase, meter.value, meter.unit, meter.context)
            .where(meter.session_id == started.session_id)
            .order_by(meter.id)
        ).all()
        history = uow.session.execute(
            select(
                ConnectorStatusHistoryRow.status,
                ConnectorStatusHistoryRow.error_code,
                ConnectorStatusHistoryRow.timestamp,
            ).where(ConnectorStatusHistoryRow.charge_point_id == cp)
        ).all()
    assert [tuple(m) for m in stored] == [
        (at, ENERGY_REGISTER, "", Decimal("12345.6789"), "Wh", "Sample.Periodic"),
        (at, "Power.Active.Import", "L1", Decimal("7100.10"), None, None),
    ]
    assert [tuple(h) for h in history] == [("Charging", None, at)]


def test_a_silent_session_is_closed_by_timeout_at_its_last_reading_and_priced(database_url: str) -> None:
    db, ctx, cp, events = prepared(database_url)
    with db.uow() as uow:
        started = charging.start_session(
            uow, ctx, StartSession(cp, "ocpp1.6", 1, 1, NOW - timedelta(hours=1), Decimal(500), id_token="X")
        )
    with db.uow() as uow:
        charging.record_transaction_updates(
            uow, ctx, [TransactionUpdate(cp, started.transaction_id, 1, (energy(25, 5500),))]
        )
    with db.uow() as uow:
        assert charging.close_timed_out_sessions(uow, ctx, timeout_s=3600) == []  # seen just now
    ctx.clock = FixedClock(NOW + timedelta(hours=2))
    with db.uow() as uow:
        assert charging.close_timed_out_sessions(uow, ctx, timeout_s=3600) == [started.session_id]
    with db.uow() as uow:
        row = uow.session.get(SessionRow, started.session_id)
        assert row is not None
        assert (row.status, row.kwh, row.end_date_time) == ("completed", Decimal(5), energy(25, 0).timestamp)
        assert "closed_by_timeout" in row.flags
    assert [e["total_cost"] for e in events] == [{"excl_vat": "1.0000", "incl_vat": None}]


def test_concurrent_meter_batches_and_liveness_touches_do_not_deadlock_on_postgresql(postgres_url: str) -> None:
    db, ctx, first_cp, _ = prepared(postgres_url)
    chargers = [first_cp]
    with db.uow() as uow:
        for n in range(11):
            cp = f"{first_cp}-{n}"
            registry.upsert_charge_point(
                uow, "default", cp, password=None, tariff_id="T1", location=LOCATION, clock=ctx.clock
            )
            chargers.append(cp)
    transactions = {}
    for cp in chargers:
        with db.uow() as uow:
            start = StartSession(cp, "ocpp1.6", 1, 1, NOW - timedelta(hours=1), Decimal(0), id_token="X")
            transactions[cp] = charging.start_session(uow, ctx, start).transaction_id
    failures: list[BaseException] = []
    stop = time.monotonic() + 3

    def batches() -> None:
        rng = random.Random(1)
        minute = 0
        while time.monotonic() < stop and not failures:
            minute = minute % 59 + 1
            updates = [TransactionUpdate(cp, transactions[cp], 1, (energy(minute, minute * 10),)) for cp in chargers]
            rng.shuffle(updates)
            try:
                with db.uow() as uow:
                    charging.record_transaction_updates(uow, ctx, updates)
            except Exception as exc:
                failures.append(exc)

    def touches() -> None:
        rng = random.Random(2)
        while time.monotonic() < stop and not failures:
            order = chargers[:]
            rng.shuffle(order)
            try:
                with db.uow() as uow:
                    charging.touch_sessions(uow, {cp: datetime.now(UTC) for cp in order})
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=job) for job in (batches, touches, touches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_batch_of_boots_and_statuses_keeps_the_newest_status_and_every_change_once(database_url: str) -> None:
    db, ctx, cp, _ = prepared(database_url)
    older, newer = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)
    writes: list[charging.Write] = [
        charging.BootReport(cp, "ocpp1.6", vendor="ACME", model="Wallbox 11"),
        charging.StatusChange(cp, 1, 1, "Charging", newer),
        charging.StatusChange(cp, 1, 1, "Preparing", older),  # arrives late: history only
        charging.StatusChange(cp, 2, 2, "Faulted", older, error_code="GroundFailure"),
    ]
    for _ in range(2):  # the replay of the whole batch changes nothing
        with db.uow() as uow:
            charging.record_batch(uow, ctx, writes)
    with db.uow() as uow:
        charging.record_status(uow, ctx, charging.StatusChange(cp, 1, 1, "Available", older))  # older than current
    with db.uow() as uow:
        current = {(r.evse_id, r.status, r.error_code) for r in uow.session.scalars(select(ConnectorStatusRow))}
        history = uow.session.scalar(select(func.count()).select_from(ConnectorStatusHistoryRow))
        point = registry.get_charge_point(uow, cp)
    assert current == {(1, "Charging", None), (2, "Faulted", "GroundFailure")}
    assert history == 4
    assert point is not None and (point.vendor, point.model, point.protocol) == ("ACME", "Wallbox 11", "ocpp1.6")


def test_a_boot_of_an_unknown_charger_is_refused(database_url: str) -> None:
    db, ctx, _, _ = prepared(database_url)
    with db.uow() as uow, pytest.raises(NotFound):
        charging.record_boot(uow, ctx, charging.BootReport("CP-NOT-REGISTERED", "ocpp1.6"))
