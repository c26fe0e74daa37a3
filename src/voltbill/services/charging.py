"""Charging use cases called by the OCPP handlers (both versions map onto one session model).

Every use case is idempotent on the charger's own identifiers, because chargers retry and replay after being
offline: a session is unique per charger + transaction id (1.6 starts also per start key), a meter value per
session (charger + transaction) + timestamp + measurand + phase, a status change per connector + timestamp +
status, and a session is closed and priced once. Events are published after the commit that made them true.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.store import bulk
from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.one_of import one_of, one_of_param, pair_of_param
from voltbill.adapters.store.tables.registry import ChargePoint
from voltbill.adapters.store.tables.sessions import (
    CdrRow,
    ConnectorStatusHistoryRow,
    ConnectorStatusRow,
    MeterValueRow,
    SessionRow,
)
from voltbill.domain.clock import Clock
from voltbill.domain.errors import NotFound
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.sessions import Sample, clamp_future, first_energy_wh, last_energy_wh
from voltbill.services import registry
from voltbill.services.events import Publisher
from voltbill.services.session_pricing import close_and_price
from voltbill.services.sessions_query import get_cdr, get_session, list_cdrs, list_sessions, live_cost, live_cost_of

__all__ = [
    "Authorization",
    "BootReport",
    "ChargingContext",
    "SessionStart",
    "SessionStop",
    "StartSession",
    "StatusChange",
    "StopSession",
    "TransactionUpdate",
    "Write",
    "attach_id_token",
    "authorize",
    "close_timed_out_sessions",
    "get_cdr",
    "get_session",
    "list_cdrs",
    "list_sessions",
    "live_cost",
    "publish_cost_update",
    "record_batch",
    "record_boot",
    "record_status",
    "record_transaction_updates",
    "start_session",
    "stop_session",
    "touch_sessions",
]

log = logging.getLogger(__name__)

StartCheck = Callable[[UnitOfWork, registry.TokenInfo], "str | None"]


@dataclass
class ChargingContext:
    """What the use cases need besides the unit of work: the event bus, the clock, the payment start checks
    (``app.state.start_checks``) and how far ahead of the server a charger clock may run (seconds)."""

    bus: Publisher
    clock: Clock
    start_checks: Sequence[StartCheck] = field(default_factory=list)
    skew_tolerance_s: int = 300


@dataclass(frozen=True)
class Authorization:
    """The answer to an id token: ``status`` in OCPP 2.0.1 terms (Accepted, Blocked, Invalid, Unknown, NoCredit);
    ``reason`` says why a start check refused it; ``payment_method`` is the driver's (for the payment events)."""

    status: str
    driver_id: str | None = None
    reason: str | None = None
    payment_method: str | None = None


@dataclass(frozen=True)
class StartSession:
    """A transaction start. ``transaction_id`` is the charger's (2.0.1) or ``None`` to allocate one (1.6)."""

    charge_point_id: str
    protocol: str
    evse_id: int
    connector_id: int
    timestamp: datetime
    meter_start_wh: Decimal | None  # None: the first energy register reading (2.0.1 Started may carry none)
    id_token: str | None = None
    id_token_type: str | None = None
    transaction_id: str | None = None
    seq_no: int | None = None
    charging_state: str | None = None
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class SessionStart:
    session_id: str
    transaction_id: str
    authorization: Authorization | None
    replayed: bool


@dataclass(frozen=True)
class TransactionUpdate:
    """Samples and/or a charging state for a transaction (or, 1.6 without transactionId, for a connector)."""

    charge_point_id: str
    transaction_id: str | None
    connector_id: int | None = None
    samples: tuple[Sample, ...] = ()
    charging_state: str | None = None
    state_at: datetime | None = None
    seq_no: int | None = None


@dataclass(frozen=True)
class StatusChange:
    """A connector status to record (StatusNotification, or the charging state of a 2.0.1 TransactionEvent)."""

    charge_point_id: str
    evse_id: int
    connector_id: int
    status: str
    timestamp: datetime
    error_code: str | None = None


@dataclass(frozen=True)
class BootReport:
    """What a charger said about itself in BootNotification."""

    charge_point_id: str
    protocol: str | None = None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None


Write = TransactionUpdate | StatusChange | BootReport


@dataclass(frozen=True)
class StopSession:
    """A transaction stop. ``start_if_unknown``: the start to open the session from when its own start never
    arrived (lost, or a transaction id the charger made up offline); without it an unknown stop stores nothing."""

    charge_point_id: str
    transaction_id: str
    timestamp: datetime
    meter_stop_wh: Decimal | None = None
    reason: str | None = None
    id_token: str | None = None
    samples: tuple[Sample, ...] = ()
    seq_no: int | None = None
    start_if_unknown: StartSession | None = None


@dataclass(frozen=True)
class SessionStop:
    """The result of a stop: ``session_id`` ``None`` for an unknown transaction; ``total_cost_incl_vat`` the
    CDR total (``None`` when unpriced); ``replayed`` when the session was already closed."""

    session_id: str | None
    cdr_id: str | None
    currency: str | None
    total_cost_excl_vat: Decimal | None
    total_cost_incl_vat: Decimal | None
    replayed: bool
    authorization: Authorization | None = None


def _insert_ignoring_duplicates(uow: UnitOfWork, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a replayed row is skipped by its unique constraint."""
    bulk.insert_ignoring_duplicates(uow.session, table.__table__, rows)


def _flag(row: SessionRow, flag: str) -> None:
    if flag not in (row.flags or []):
        row.flags = [*(row.flags or []), flag]


def record_boot(uow: UnitOfWork, ctx: ChargingContext, boot: BootReport) -> None:
    """BootNotification: remember vendor/model/firmware/protocol and that the charger is alive."""
    if not _record_boots(uow, [boot], ctx.clock.now()):
        raise NotFound(f"charge point {boot.charge_point_id} is not registered.", code="charge_point_not_found")
    uow.commit()


def authorize(uow: UnitOfWork, ctx: ChargingContext, uid: str, *, charge_point_id: str) -> Authorization:
    """Authorize an id token: the registry's answer, then every start check (payments) for accepted tokens."""
    token = registry.authorize_id_token(uow, uid, charge_point_id=charge_point_id)
    if token.status != "Accepted":
        return Authorization(token.status, token.driver_id, payment_method=token.payment_method)
    for check in ctx.start_checks:
        reason = check(uow, token)
        if reason is not None:
            log.info("id token %s refused at %s: %s", uid, charge_point_id, reason)
            return Authorization("NoCredit", token.driver_id, reason, token.payment_method)
    return Authorization("Accepted", token.driver_id, payment_method=token.payment_method)


def record_status(uow: UnitOfWork, ctx: ChargingContext, change: StatusChange) -> None:
    """StatusNotification: keep the connector's latest status and its history (for parked time)."""
    _record_statuses(uow, ctx, [change])
    uow.commit()


def record_batch(uow: UnitOfWork, ctx: ChargingContext, writes: Sequence[Write]) -> int:
    """Store what many chargers reported (boots, statuses, meter values, charging states) in one commit: the
    gateway's write-behind batch. Set-based on purpose (a few statements per batch, whatever its size): this is
    the hot path of the OCPP gateway. Returns how many transaction updates matched a session.

    Tables are written in one order (charge points, connector statuses, sessions) and rows in key order, the
    order every other transaction locks them in, so two batches never deadlock on PostgreSQL.
    """
    now = ctx.clock.now()
    _record_boots(uow, [w for w in writes if isinstance(w, BootReport)], now)
    updates = [w for w in writes if isinstance(w, TransactionUpdate)]
    found = _sessions_for_updates(uow, updates)
    statuses = [w for w in writes if isinstance(w, StatusChange)]
    for upd in updates:
        session = found.get(_update_key(upd))
        if session is not None and upd.charging_state:
            at = upd.state_at or now
            statuses.append(
                StatusChange(session.charge_point_id, session.evse_id, session.connector_id, upd.charging_state, at)
            )
    _record_statuses(uow, ctx, statuses)
    matched = _record_updates(uow, ctx, updates, found, now)
    uow.commit()
    return matched


def record_transaction_updates(uow: UnitOfWork, ctx: ChargingContext, updates: Sequence[TransactionUpdate]) -> int:
    """Store meter values and charging states of many transactions in one commit (see ``record_batch``).

    Updates for unknown transactions are ignored; a 1.6 MeterValues without transactionId goes to the connector's
    active session, if any. Returns how many updates matched a session.
    """
    return record_batch(uow, ctx, updates)


def _record_boots(uow: UnitOfWork, boots: Sequence[BootReport], now: datetime) -> int:
    """Update the charge points that booted (the last report per charger wins); returns how many exist."""
    if not boots:
        return 0
    latest = {b.charge_point_id: b for b in boots}
    result = uow.session.execute(
        _statements(uow).boots,
        [
            {"cid": b.charge_point_id, "vendor": b.vendor, "model": b.model, "firmware": b.firmware_version,
             "proto": b.protocol, "now": now}
            for _, b in sorted(latest.items())
        ],
    )  # fmt: skip
    return int(result.rowcount)


def _record_statuses(uow: UnitOfWork, ctx: ChargingContext, changes: Sequence[StatusChange]) -> None:
    """Append status changes to the history (a replayed change is skipped by its unique key) and keep the
    newest per connector as its current status (a replayed older status never overwrites a newer one)."""
    if not changes:
        return
    now = ctx.clock.now()
    rows = []
    for c in changes:
        at, _ = clamp_future(c.timestamp, now, ctx.skew_tolerance_s)
        rows.append(
            {"charge_point_id": c.charge_point_id, "evse_id": c.evse_id, "connector_id": c.connector_id,
             "status": c.status, "error_code": c.error_code, "timestamp": at}
        )  # fmt: skip
    _insert_ignoring_duplicates(uow, ConnectorStatusHistoryRow, rows)
    newest: dict[tuple[str, int, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["charge_point_id"], row["evse_id"], row["connector_id"])
        if key not in newest or newest[key]["timestamp"] <= row["timestamp"]:
            newest[key] = row
    uow.session.execute(_statements(uow).current_status, [newest[key] for key in sorted(newest)])


def _sample_row(session_id: str, cp_id: str, transaction_id: str, at: datetime, s: Sample) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "charge_point_id": cp_id,
        "transaction_id": transaction_id,
        "timestamp": at,
        "measurand": s.measurand,
        "phase": s.phase,
        "value": format(s.value, "f"),
        "unit": s.unit,
        "context": s.context,
    }


def _sample_rows(row: SessionRow, samples: Sequence[Sample], now: datetime, tolerance_s: int) -> list[dict[str, Any]]:
    rows = []
    for s in samples:
        at, clamped = clamp_future(s.timestamp, now, tolerance_s)
        if clamped:
            _flag(row, "clock_skew_clamped")
        rows.append(_sample_row(row.id, row.charge_point_id, row.transaction_id, at, s))
    return rows


def _find_session(uow: UnitOfWork, charge_point_id: str, transaction_id: str) -> SessionRow | None:
    return uow.session.scalars(
        select(SessionRow).where(
            SessionRow.charge_point_id == charge_point_id, SessionRow.transaction_id == transaction_id
        )
    ).first()


def _start_key(cmd: StartSession) -> str | None:
    if cmd.transaction_id is not None:
        return None  # 2.0.1: the charger's transactionId is the key
    # OCPP 1.6 StartTransaction.req has no id of its own: a retry (same or new message id) carries the same
    # connector, idTag, timestamp and meterStart, so together they identify the start.
    return idempotency_key(
        "ocpp16_start",
        charge_point_id=cmd.charge_point_id,
        connector_id=cmd.connector_id,
        id_tag=cmd.id_token,
        timestamp=cmd.timestamp.isoformat(),
        meter_start=cmd.meter_start_wh,
    )


def _existing_start(uow: UnitOfWork, cmd: StartSession, start_key: str | None) -> SessionRow | None:
    if start_key is not None:
        return uow.session.scalars(select(SessionRow).where(SessionRow.start_key == start_key)).first()
    assert cmd.transaction_id is not None
    return _find_session(uow, cmd.charge_point_id, cmd.transaction_id)


def _replayed_start(row: SessionRow) -> SessionStart:
    auth = Authorization(row.auth_status, row.driver_id) if row.auth_status else None
    return SessionStart(row.id, row.transaction_id, auth, replayed=True)


def start_session(
    uow: UnitOfWork, ctx: ChargingContext, cmd: StartSession, *, flags: Sequence[str] = ()
) -> SessionStart:
    """Open a session (1.6 StartTransaction, 2.0.1 TransactionEvent Started), with ``flags`` if the caller has
    any. A replay returns the first result."""
    start_key = _start_key(cmd)
    existing = _existing_start(uow, cmd, start_key)
    if existing is not None:
        return _replayed_start(existing)
    now = ctx.clock.now()
    auth = authorize(uow, ctx, cmd.id_token, charge_point_id=cmd.charge_point_id) if cmd.id_token else None
    started_at, clamped = clamp_future(cmd.timestamp, now, ctx.skew_tolerance_s)
    cp = uow.session.get(ChargePoint, cmd.charge_point_id)  # loaded by authorize: no query
    row = SessionRow(
        id=f"ses_{secrets.token_hex(10)}",
        charge_point_id=cmd.charge_point_id,
        transaction_id=cmd.transaction_id or str(secrets.randbelow(2**31 - 2) + 1),
        protocol=cmd.protocol,
        evse_id=cmd.evse_id,
        connector_id=cmd.connector_id,
        id_token=cmd.id_token,
        id_token_type=cmd.id_token_type,
        auth_status=auth.status if auth else None,
        driver_id=auth.driver_id if auth else None,
        status="active",
        start_date_time=started_at,
        meter_start_wh=cmd.meter_start_wh if cmd.meter_start_wh is not None else first_energy_wh(cmd.samples),
        last_seq_no=cmd.seq_no,
        seq_no_count=None if cmd.seq_no is None else 1,
        last_seen_at=now,
        tariff_id=cp.tariff_id if cp else None,
        start_key=start_key,
        flags=[*flags, *(["clock_skew_clamped"] if clamped else [])],
        created_at=now,
    )
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent identical start won the race: answer with its result
        uow.rollback()
        existing = _existing_start(uow, cmd, start_key)
        if existing is None:
            raise
        return _replayed_start(existing)
    _insert_ignoring_duplicates(uow, MeterValueRow, _sample_rows(row, cmd.samples, now, ctx.skew_tolerance_s))
    if cmd.charging_state:
        _record_statuses(
            uow, ctx, [StatusChange(row.charge_point_id, row.evse_id, row.connector_id, cmd.charging_state, started_at)]
        )
    uow.commit()
    ctx.bus.publish(
        "session.started",
        {
            "session_id": row.id,
            "charge_point_id": row.charge_point_id,
            "connector_id": row.connector_id,
            "transaction_id": row.transaction_id,
            "driver_id": row.driver_id,
            "payment_method": auth.payment_method if auth else None,
            "id_token": row.id_token,
            "start_date_time": row.start_date_time.isoformat(),
        },
    )
    return SessionStart(row.id, row.transaction_id, auth, replayed=False)


@dataclass(frozen=True)
class _BatchStatements:
    boots: Any
    current_status: Any
    session_progress: Any
    transactions: Any
    active_sessions: Any


def _statements(uow: UnitOfWork) -> _BatchStatements:
    return _batch_statements(uow.session.get_bind().dialect.name)


@functools.cache
def _batch_statements(dialect_name: str) -> _BatchStatements:
    """The write-behind batch's statements, built once per dialect (values go in as bind parameters).

    Built per batch they cost the GIL on every batch (SQLAlchemy derives a cache key from each new construct) and
    left cyclic garbage (``insert.excluded`` copies the whole table each time) that the collector then cleared in
    pauses of hundreds of milliseconds, with the event loop stopped (benchmarks/ocpp_load.py).
    """
    cp = ChargePoint.__table__
    boots = (
        update(cp)
        .where(cp.c.id == bindparam("cid"))
        .values(
            vendor=func.coalesce(bindparam("vendor", type_=String), cp.c.vendor),
            model=func.coalesce(bindparam("model", type_=String), cp.c.model),
            firmware_version=func.coalesce(bindparam("firmware", type_=String), cp.c.firmware_version),
            protocol=func.coalesce(bindparam("proto", type_=String), cp.c.protocol),
            last_seen_at=bindparam("now", type_=cp.c.last_seen_at.type),
        )
    )
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert(ConnectorStatusRow.__table__)
    current = ConnectorStatusRow.__table__.c
    current_status = insert.on_conflict_do_update(
        index_elements=[current.charge_point_id, current.evse_id, current.connector_id],
        set_={"status": insert.excluded.status, "error_code": insert.excluded.error_code,
              "timestamp": insert.excluded.timestamp},
        where=current.timestamp <= insert.excluded.timestamp,
    )  # fmt: skip
    table = SessionRow.__table__
    now = bindparam("now", type_=table.c.last_seen_at.type)
    seq = bindparam("seq", type_=Integer)
    newer = seq > func.coalesce(table.c.last_seq_no, -1)  # retried and replayed events are not newer
    session_progress = (
        update(table)
        .where(table.c.id == bindparam("sid"))
        .values(
            last_seen_at=now,
            last_seq_no=case((newer, seq), else_=table.c.last_seq_no),
            seq_no_count=table.c.seq_no_count + case((newer, 1), else_=0),
            meter_start_wh=func.coalesce(table.c.meter_start_wh, bindparam("start_wh", type_=String)),
        )
    )
    found = select(
        table.c.id,
        table.c.charge_point_id,
        table.c.transaction_id,
        table.c.evse_id,
        table.c.connector_id,
        table.c.status,
        table.c.meter_start_wh,
    )
    # the batch's (charger, transaction) pairs (the unique index), and the active sessions of chargers that sent
    # readings without a transaction (index on charger and status): never a charger's whole history (migration 0008)
    transactions = found.where(pair_of_param(table.c.charge_point_id, table.c.transaction_id, "pairs"))
    active = found.where(one_of_param(table.c.charge_point_id, "cps"), table.c.status == "active")
    return _BatchStatements(boots, current_status, session_progress, transactions, active)


def _progressed(change: dict[str, Any]) -> bool:
    return change["seq"] is not None or change["start_wh"] is not None


def _update_key(upd: TransactionUpdate) -> tuple[Any, ...]:
    return (upd.charge_point_id, upd.transaction_id, None if upd.transaction_id else upd.connector_id)


def _record_updates(
    uow: UnitOfWork,
    ctx: ChargingContext,
    updates: Sequence[TransactionUpdate],
    found: dict[tuple[Any, ...], Any],
    now: datetime,
) -> int:
    """Meter values (bulk INSERT, ``adapters/store/bulk.py``), then the sessions' seqNo and missing meter start."""
    rows: list[dict[str, Any]] = []
    changes: dict[str, dict[str, Any]] = {}
    clamped: set[str] = set()
    matched = 0
    for upd in updates:
        session = found.get(_update_key(upd))
        if session is None:
            continue
        matched += 1
        for sample in upd.samples:
            at, was_clamped = clamp_future(sample.timestamp, now, ctx.skew_tolerance_s)
            if was_clamped:
                clamped.add(session.id)
            rows.append(_sample_row(session.id, session.charge_point_id, session.transaction_id, at, sample))
        change = changes.setdefault(session.id, {"sid": session.id, "seq": None, "start_wh": None})
        if upd.seq_no is not None:
            change["seq"] = max(upd.seq_no, change["seq"] or 0)
        needs_start = session.meter_start_wh is None and change["start_wh"] is None
        if needs_start and (first := first_energy_wh(upd.samples)) is not None:
            change["start_wh"] = format(first, "f")
    _insert_ignoring_duplicates(uow, MeterValueRow, rows)
    # A session whose only news is that it is alive is not written: the gateway's touch job stamps the sessions of
    # every charger heard from every 30 s in one statement (``touch_sessions``). Stamped here, every MeterValues
    # cost an UPDATE of its session row; on PostgreSQL the burst of benchmarks/ocpp_load.py persisted ~10 % less.
    progress = [{**changes[sid], "now": now} for sid in sorted(changes) if _progressed(changes[sid])]
    if progress:  # in id order, as in touch_sessions: no deadlock
        uow.session.execute(_statements(uow).session_progress, progress)
    for session_id in clamped:
        row = uow.session.get(SessionRow, session_id)
        if row is not None:
            _flag(row, "clock_skew_clamped")
    return matched


def _sessions_for_updates(uow: UnitOfWork, updates: Sequence[TransactionUpdate]) -> dict[tuple[Any, ...], Any]:
    """Sessions of a batch, keyed ``(cp, transaction_id, None)`` or, for connector-level 1.6 samples,
    ``(cp, None, connector_id)`` (the connector's active session): a query for each kind the batch holds."""
    statements = _statements(uow)
    found: dict[tuple[Any, ...], Any] = {}
    pairs = sorted({(u.charge_point_id, u.transaction_id) for u in updates if u.transaction_id is not None})
    if pairs:
        for row in uow.session.execute(statements.transactions, {"pairs": pairs}):
            found[(row.charge_point_id, row.transaction_id, None)] = row
    connector_level = sorted({u.charge_point_id for u in updates if u.transaction_id is None})
    if connector_level:
        for row in uow.session.execute(statements.active_sessions, {"cps": connector_level}):
            found.setdefault((row.charge_point_id, None, row.connector_id), row)
    return found


def attach_id_token(
    uow: UnitOfWork, ctx: ChargingContext, charge_point_id: str, transaction_id: str, uid: str, uid_type: str | None
) -> Authorization:
    """2.0.1: a transaction that started without an id token (cable first) is authorised later."""
    auth = authorize(uow, ctx, uid, charge_point_id=charge_point_id)
    session = _find_session(uow, charge_point_id, transaction_id)
    if session is not None and session.id_token is None:
        session.id_token, session.id_token_type = uid, uid_type
        session.auth_status, session.driver_id = auth.status, auth.driver_id
        uow.commit()
    return auth


def publish_cost_update(
    uow: UnitOfWork, ctx: ChargingContext, charge_point_id: str, transaction_id: str
) -> dict[str, Any] | None:
    """Publish ``session.cost_updated`` with the live cost of an active session; return ``{"total", "currency"}``
    (total incl. VAT when known, as OCPP totalCost wants) for the charger, or ``None`` when there is no price."""
    row = _find_session(uow, charge_point_id, transaction_id)
    if row is None or row.status != "active":
        return None
    cost = live_cost_of(uow, row)
    if cost is None or cost["total_cost"] is None:
        return None
    driver = registry.get_driver(uow, row.driver_id) if row.driver_id else None
    event = {
        "session_id": row.id,
        "driver_id": row.driver_id,
        "payment_method": driver.payment_method if driver else None,
        "charge_point_id": row.charge_point_id,
        "transaction_id": row.transaction_id,
        "currency": cost["currency"],
        "total_cost": cost["total_cost"],
    }
    uow.rollback()  # end the read transaction first: consumers open their own
    ctx.bus.publish("session.cost_updated", event)
    total = cost["total_cost"]["incl_vat"] or cost["total_cost"]["excl_vat"]
    return {"total": Decimal(total), "currency": cost["currency"]}


def touch_sessions(uow: UnitOfWork, last_seen: dict[str, datetime]) -> None:
    """Mark the active sessions of chargers that sent anything (heartbeats included) as alive.

    One statement for all of them, stamped with the earliest of their last-seen times: never later than the truth,
    at most one touch interval earlier, which a session timeout of hours does not notice. The rows are locked in
    session id order first (``FOR NO KEY UPDATE``, PostgreSQL), the order the meter-value batch updates them in: two
    transactions that lock the same rows in different orders deadlock.
    """
    if not last_seen:
        return
    table = SessionRow.__table__
    at = min(last_seen.values())
    stale = uow.session.scalars(
        select(table.c.id)
        .where(
            table.c.status == "active",
            one_of(table.c.charge_point_id, sorted(last_seen)),
            table.c.last_seen_at < at,
        )
        .order_by(table.c.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE, as the UPDATE itself: meter rows' key shares pass
    ).all()
    if stale:
        uow.session.execute(update(table).where(one_of(table.c.id, stale)).values(last_seen_at=at))
    uow.commit()


def _stop_result(uow: UnitOfWork, row: SessionRow, replayed: bool, auth: Authorization | None) -> SessionStop:
    cdr = uow.session.get(CdrRow, row.cdr_id) if row.cdr_id else None
    return SessionStop(
        session_id=row.id,
        cdr_id=row.cdr_id,
        currency=cdr.currency if cdr else None,
        total_cost_excl_vat=cdr.total_excl_vat if cdr else None,
        total_cost_incl_vat=cdr.total_incl_vat if cdr else None,
        replayed=replayed,
        authorization=auth,
    )


def stop_session(uow: UnitOfWork, ctx: ChargingContext, cmd: StopSession) -> SessionStop:
    """Close a session (1.6 StopTransaction, 2.0.1 TransactionEvent Ended), price it and store its CDR.

    A replay (the charger retried, or replays its queue after reconnecting) answers the first result. An unknown
    transaction is opened from ``cmd.start_if_unknown`` first, flagged ``started_unknown``, so no energy goes
    unbilled; its replays find that session.
    """
    now = ctx.clock.now()
    row = _find_session(uow, cmd.charge_point_id, cmd.transaction_id)
    if row is None and cmd.start_if_unknown is not None:
        start_session(uow, ctx, cmd.start_if_unknown, flags=["started_unknown"])
        row = _find_session(uow, cmd.charge_point_id, cmd.transaction_id)
    auth = authorize(uow, ctx, cmd.id_token, charge_point_id=cmd.charge_point_id) if cmd.id_token else None
    if row is None:
        return SessionStop(None, None, None, None, None, replayed=False, authorization=auth)
    _insert_ignoring_duplicates(uow, MeterValueRow, _sample_rows(row, cmd.samples, now, ctx.skew_tolerance_s))
    if row.status == "completed":
        uow.commit()  # late samples are kept for the record; the CDR does not change
        return _stop_result(uow, row, True, auth)
    ended_at, clamped = clamp_future(cmd.timestamp, now, ctx.skew_tolerance_s)
    if clamped:
        _flag(row, "clock_skew_clamped")
    if ended_at < row.start_date_time:
        _flag(row, "clock_skew_end_before_start")
        ended_at = row.start_date_time
    if row.meter_start_wh is None:
        row.meter_start_wh = first_energy_wh(cmd.samples)
    meter_stop = cmd.meter_stop_wh
    if meter_stop is None:
        meter_stop = last_energy_wh(cmd.samples) or _last_register(uow, row) or row.meter_start_wh
    _close(row, ended_at, meter_stop, cmd.reason, now)
    if cmd.seq_no is not None and cmd.seq_no > (row.last_seq_no if row.last_seq_no is not None else -1):
        row.last_seq_no = cmd.seq_no
        row.seq_no_count = None if row.seq_no_count is None else row.seq_no_count + 1
    # OCPP 2.0.1 E-block: seqNo counts a transaction's TransactionEvents from 0 up by 1, so other than last
    # seqNo + 1 events means some never arrived (or came out of order) and the CDR may lack their data
    if row.seq_no_count is not None and row.last_seq_no is not None and row.seq_no_count != row.last_seq_no + 1:
        _flag(row, "seq_no_gap")
    return _price_and_publish(uow, ctx, row, auth)


def _last_register(uow: UnitOfWork, row: SessionRow) -> Decimal | None:
    value = uow.session.scalars(
        select(MeterValueRow.value)
        .where(
            MeterValueRow.session_id == row.id,
            MeterValueRow.measurand == "Energy.Active.Import.Register",
            MeterValueRow.phase == "",
        )
        .order_by(MeterValueRow.timestamp.desc())
        .limit(1)
    ).first()
    return value


def _close(
    row: SessionRow, ended_at: datetime, meter_stop_wh: Decimal | None, reason: str | None, now: datetime
) -> None:
    stop = meter_stop_wh if meter_stop_wh is not None else row.meter_start_wh or Decimal(0)
    start = row.meter_start_wh if row.meter_start_wh is not None else stop
    row.meter_start_wh = start
    row.status = "completed"
    row.end_date_time = ended_at
    row.meter_stop_wh = stop
    row.kwh = (max(stop - start, Decimal(0)) / 1000).normalize()
    row.stop_reason = reason
    row.last_seen_at = now


def _price_and_publish(
    uow: UnitOfWork, ctx: ChargingContext, row: SessionRow, auth: Authorization | None
) -> SessionStop:
    cdr = close_and_price(uow, row, ctx.clock.now())
    row.cdr_id = cdr.id
    uow.commit()
    if cdr.priced:
        ctx.bus.publish(
            "session.priced",
            {
                "session_id": row.id,
                "cdr_id": cdr.id,
                "driver_id": row.driver_id,
                "charge_point_id": row.charge_point_id,
                "currency": cdr.currency,
                "total_cost": {
                    "excl_vat": format(cdr.total_excl_vat, "f") if cdr.total_excl_vat is not None else None,
                    "incl_vat": format(cdr.total_incl_vat, "f") if cdr.total_incl_vat is not None else None,
                },
                "end_date_time": cdr.end_date_time.isoformat(),
            },
        )
    return _stop_result(uow, row, False, auth)


def close_timed_out_sessions(uow: UnitOfWork, ctx: ChargingContext, timeout_s: int) -> list[str]:
    """Close active sessions whose charger has sent nothing for ``timeout_s`` seconds (it vanished), priced up
    to their last reading and flagged ``closed_by_timeout``. Returns the closed session ids."""
    now = ctx.clock.now()
    stale = uow.session.scalars(
        select(SessionRow.id).where(
            SessionRow.status == "active", SessionRow.last_seen_at < now - timedelta(seconds=timeout_s)
        )
    ).all()
    closed = []
    for session_id in stale:
        row = uow.session.get(SessionRow, session_id)
        if row is None or row.status != "active":
            continue
        last = _last_reading(uow, row)
        _close(row, last[0], last[1], "Timeout", now)
        _flag(row, "closed_by_timeout")
        _price_and_publish(uow, ctx, row, None)
        closed.append(session_id)
    return closed


def _last_reading(uow: UnitOfWork, row: SessionRow) -> tuple[datetime, Decimal | None]:
    newest = uow.session.execute(
        select(MeterValueRow.timestamp, MeterValueRow.value)
        .where(
            MeterValueRow.session_id == row.id,
            MeterValueRow.measurand == "Energy.Active.Import.Register",
            MeterValueRow.phase == "",
        )
        .order_by(MeterValueRow.timestamp.desc())
        .limit(1)
    ).first()
    if newest is None or newest[0] < row.start_date_time:
        return row.start_date_time, row.meter_start_wh
    return newest[0], newest[1]
