"""Sessions tables (Alembic revision 0002): connector status, sessions, meter values, CDRs.

Idempotency lives in unique constraints: one session per charger transaction id, one 1.6 start per start key,
one meter value per charger + transaction + timestamp + measurand + phase, one status change per connector and
timestamp, one CDR per session. A retried OCPP message is recognised by these keys, whatever its message id.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voltbill.adapters.store.metadata import Base
from voltbill.adapters.store.types import DecimalText, UtcDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ConnectorStatusRow(Base):
    """The latest status of one connector (OCPP 1.6 connectorId / 2.0.1 evseId + connectorId)."""

    __tablename__ = "connector_statuses"

    charge_point_id: Mapped[str] = mapped_column(String(64), ForeignKey("charge_points.id"), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)


class ConnectorStatusHistoryRow(Base):
    """Every status change, so a session can be split into charging and parked periods afterwards."""

    __tablename__ = "connector_status_history"
    __table_args__ = (
        UniqueConstraint(
            "charge_point_id", "evse_id", "connector_id", "timestamp", "status", name="uq_status_history_change"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64), ForeignKey("charge_points.id"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)


class SessionRow(Base):
    """One charging session (OCPP transaction). ``status`` is ``active`` or ``completed``; ``flags`` records
    what happened on the way (``closed_by_timeout``, ``clock_skew_clamped``, ``started_unknown``, ``seq_no_gap``,
    ``unpriced``, ...). ``last_seq_no`` is the highest 2.0.1 seqNo received and ``seq_no_count`` how many
    TransactionEvents raised it (revision 0006; ``None`` for 1.6)."""

    __tablename__ = "sessions"
    # A charger's active sessions by (charger, status), however long its history (migration 0008); a transaction
    # by the unique (charger, transaction).
    __table_args__ = (
        UniqueConstraint("charge_point_id", "transaction_id"),
        Index("ix_sessions_charge_point_id_status", "charge_point_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(String(64), ForeignKey("charge_points.id"))
    transaction_id: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(16))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(64))
    id_token_type: Mapped[str | None] = mapped_column(String(32))
    auth_status: Mapped[str | None] = mapped_column(String(32))
    driver_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("drivers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_date_time: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    end_date_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    meter_start_wh: Mapped[Decimal | None] = mapped_column(DecimalText)
    meter_stop_wh: Mapped[Decimal | None] = mapped_column(DecimalText)
    kwh: Mapped[Decimal | None] = mapped_column(DecimalText)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    seq_no_count: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    tariff_id: Mapped[str | None] = mapped_column(String(64))
    cdr_id: Mapped[str | None] = mapped_column(String(40))
    start_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MeterValueRow(Base):
    """One sampled value (OCPP SampledValue), stored once per session (= charger and transaction), time, measurand
    and phase. That unique index is also the one every read uses (by session); there is no other (migration 0007)."""

    __tablename__ = "meter_values"
    __table_args__ = (UniqueConstraint("session_id", "timestamp", "measurand", "phase", name="uq_meter_values_sample"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40), ForeignKey("sessions.id"))
    charge_point_id: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    measurand: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal] = mapped_column(DecimalText)
    unit: Mapped[str | None] = mapped_column(String(16))
    context: Mapped[str | None] = mapped_column(String(32))


class CdrRow(Base):
    """A stored OCPI 2.2.1 CDR (``data``) with key columns for lists; ``priced`` is false when no tariff applied
    (``error_code`` says why) so the session is never lost."""

    __tablename__ = "cdrs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40), ForeignKey("sessions.id"), unique=True)
    charge_point_id: Mapped[str] = mapped_column(String(64), index=True)
    driver_id: Mapped[str | None] = mapped_column(String(64), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal | None] = mapped_column(DecimalText)
    total_incl_vat: Mapped[Decimal | None] = mapped_column(DecimalText)
    priced: Mapped[bool] = mapped_column(Boolean)
    error_code: Mapped[str | None] = mapped_column(String(64))
    end_date_time: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
