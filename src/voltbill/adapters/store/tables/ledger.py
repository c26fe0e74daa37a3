"""Ledger and payments tables (Alembic revision 0003).

Ledger: ``ledger_transfers`` (one row per balanced transfer, unique idempotency key) and ``ledger_postings`` (its
signed legs). Amounts in postings are integers in units of 0.0001 (``AMOUNT_SCALE``) so that sums are exact on
SQLite too. Payments: ``payments`` (one per settled session or card top-up, with the durable capture queue:
``status`` + ``next_attempt_at``), ``payment_refunds``, ``payment_cards`` (card on file), ``wallet_settings``
(automatic top-up), ``webhook_events`` (each provider event processed once) and ``payment_requests`` (the first
answer to an ``Idempotency-Key`` request, replayed verbatim).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voltbill.adapters.store.metadata import Base
from voltbill.adapters.store.types import DecimalText, UtcDateTime

AMOUNT_SCALE = 10_000  # posting amounts are stored in 1/10,000 of a currency unit (CDR precision, 4 decimals)


def to_units(amount: Decimal) -> int:
    """Decimal amount -> integer units of 0.0001; refuses amounts finer than that."""
    units = amount * AMOUNT_SCALE
    if units != units.to_integral_value():
        raise ValueError(f"amount {amount} has more than 4 decimals")
    return int(units)


def from_units(units: int | Decimal) -> Decimal:
    return Decimal(int(units)) / AMOUNT_SCALE


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    driver_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (Index("ix_ledger_postings_account_currency", "account", "currency"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    account: Mapped[str] = mapped_column(String(140))
    currency: Mapped[str] = mapped_column(String(3))
    amount_units: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """A driver payment: a settled session (any method) or a card top-up.

    ``status``: ``authorised`` (card held), ``capture_pending`` (queued, retried at ``next_attempt_at``),
    ``captured``, ``cancelled``, ``declined`` (pre-authorisation refused), ``failed`` (gave up: booked as debt),
    ``paid`` (wallet), ``on_account`` (invoice), ``free`` (nothing to pay).
    """

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    cdr_id: Mapped[str | None] = mapped_column(String(100), index=True)
    id_token: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_method: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    authorised_amount: Mapped[Decimal | None] = mapped_column(DecimalText)
    amount: Mapped[Decimal | None] = mapped_column(DecimalText)
    captured_amount: Mapped[Decimal] = mapped_column(DecimalText, default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(DecimalText, default=Decimal(0))
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[Decimal] = mapped_column(DecimalText)
    currency: Mapped[str] = mapped_column(String(3))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentCard(Base):
    """A driver's card on file: the provider's customer and payment method ids (never card numbers)."""

    __tablename__ = "payment_cards"

    driver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(100))
    payment_method_id: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WalletSetting(Base):
    """Automatic top-up by card: when the balance falls below ``threshold``, charge ``amount``."""

    __tablename__ = "wallet_settings"

    driver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    auto_top_up_threshold: Mapped[Decimal | None] = mapped_column(DecimalText)
    auto_top_up_amount: Mapped[Decimal | None] = mapped_column(DecimalText)


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentRequest(Base):
    """The first answer to a request carrying an ``Idempotency-Key``; a replay gets it back unchanged."""

    __tablename__ = "payment_requests"

    idempotency_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
