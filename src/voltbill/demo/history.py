"""Replay a planned history through the real use cases, with the clock set to each moment as it happens.

Every session goes the way a charger's would: ``start_session`` (authorisation and the payment start checks),
meter values and charging states (``record_transaction_updates``), ``stop_session`` (pricing, CDR) and the event
consumers the server wires on ``session.priced``/``session.settled`` (settlement, invoices). Idempotent: a 2.0.1
session is keyed by its transaction id and a 1.6 one by its start key, so replaying the plan changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from voltbill.adapters.store.db import Database
from voltbill.demo.plan import PlannedSession, meter_readings
from voltbill.domain.clock import FixedClock
from voltbill.domain.sessions import Sample
from voltbill.services import charging

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


@dataclass
class ReplayStats:
    """What a replay did: sessions ``started`` (new), ``replayed`` (already there), ``refused`` (authorisation
    or a start check said no, e.g. an empty wallet) and ``priced`` (got a priced CDR)."""

    started: int = 0
    replayed: int = 0
    refused: int = 0
    priced: int = 0


class Registers:
    """The cumulative energy register of each connector (Wh), as a real meter would count."""

    def __init__(self) -> None:
        self._wh: dict[tuple[str, int], Decimal] = {}

    def take(self, session: PlannedSession) -> Decimal:
        key = (session.charger.id, session.connector)
        start = self._wh.get(key, Decimal(1_000_000))
        self._wh[key] = start + session.energy_wh
        return start


def _samples(session: PlannedSession, register_start: Decimal) -> tuple[Sample, ...]:
    out = []
    for at, wh in meter_readings(session, register_start):
        out.append(Sample(at, ENERGY, "", wh, "Wh", "Sample.Periodic"))
        if at < session.charge_end:
            out.append(Sample(at, POWER, "", session.power_w, "W", "Sample.Periodic"))
    return tuple(out)


def replay(
    db: Database,
    ctx: charging.ChargingContext,
    clock: FixedClock,
    plan: list[PlannedSession],
    *,
    before_session: Callable[[PlannedSession], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Run ``plan`` (ordered by start) through the charging use cases; ``clock`` is moved to each event."""
    stats = ReplayStats()
    registers = Registers()
    booted: set[str] = set()
    for session in plan:
        if session.charger.id not in booted:
            booted.add(session.charger.id)
            _boot(db, ctx, clock, session)
        register_start = registers.take(session)
        if before_session is not None:
            before_session(session)
        _one(db, ctx, clock, session, register_start, stats)
        if progress is not None:
            progress(1)
    return stats


def _one(
    db: Database,
    ctx: charging.ChargingContext,
    clock: FixedClock,
    session: PlannedSession,
    register_start: Decimal,
    stats: ReplayStats,
) -> None:
    cp = session.charger
    v201 = cp.protocol == "ocpp2.0.1"
    clock.at = session.start
    with db.uow() as uow:
        started = charging.start_session(
            uow,
            ctx,
            charging.StartSession(
                charge_point_id=cp.id,
                protocol=cp.protocol,
                evse_id=session.connector,
                connector_id=1 if v201 else session.connector,
                timestamp=session.start,
                meter_start_wh=register_start,
                id_token=session.driver.token_uid,
                id_token_type="ISO14443" if v201 else None,
                transaction_id=session.key if v201 else None,
                charging_state="Charging",
            ),
        )
    if started.replayed:
        stats.replayed += 1
        return
    if started.authorization is not None and started.authorization.status != "Accepted":
        # A refused start is ended by the charger at once (OCPP 1.6 StopTransactionOnInvalidId, reason DeAuthorized).
        stats.refused += 1
        with db.uow() as uow:
            charging.stop_session(
                uow,
                ctx,
                charging.StopSession(cp.id, started.transaction_id, session.start, register_start, "DeAuthorized"),
            )
        return
    stats.started += 1
    parked = session.end > session.charge_end
    clock.at = session.charge_end
    with db.uow() as uow:
        charging.record_transaction_updates(
            uow,
            ctx,
            [
                charging.TransactionUpdate(
                    charge_point_id=cp.id,
                    transaction_id=started.transaction_id,
                    samples=_samples(session, register_start),
                    charging_state="SuspendedEV" if parked else None,
                    state_at=session.charge_end if parked else None,
                )
            ],
        )
    clock.at = session.end
    with db.uow() as uow:
        stopped = charging.stop_session(
            uow,
            ctx,
            charging.StopSession(
                charge_point_id=cp.id,
                transaction_id=started.transaction_id,
                timestamp=session.end,
                meter_stop_wh=register_start + session.energy_wh,
                reason="EVDisconnected",
            ),
        )
    if stopped.total_cost_excl_vat is not None:
        stats.priced += 1
    with db.uow() as uow:  # the cable is unplugged: the connector is free again
        charging.record_status(
            uow,
            ctx,
            charging.StatusChange(cp.id, session.connector, 1 if v201 else session.connector, "Available", session.end),
        )


def _boot(db: Database, ctx: charging.ChargingContext, clock: FixedClock, first: PlannedSession) -> None:
    """The charger's BootNotification, just before its first session of the history."""
    cp = first.charger
    clock.at = first.start
    with db.uow() as uow:
        boot = charging.BootReport(cp.id, cp.protocol, vendor=cp.vendor, model=cp.model, firmware_version="1.4.2")
        charging.record_boot(uow, ctx, boot)


def last_moment(plan: list[PlannedSession]) -> datetime | None:
    """When the last planned session ends."""
    return max((p.end for p in plan), default=None)
