"""Invoicing tables (Alembic revision 0004).

``invoices`` (one row per document; ``number`` is NULL while a draft, unique per operator once issued;
``source_key`` makes issuing idempotent), ``invoice_cdrs`` (each CDR is billed by at most one document),
``invoice_counters`` (one row per operator and number series: the gap-free counter, advanced under a row lock in
the issuing transaction), ``invoice_documents`` (the rendered PDF with its embedded Factur-X XML),
``invoice_branding`` (per-operator logo, colours, legal details, template), ``invoice_outbox`` (durable e-mail
queue with retries).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from voltbill.adapters.store.metadata import Base
from voltbill.adapters.store.types import UtcDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("operator_id", "number", name="uq_invoices_operator_id_number"),
        UniqueConstraint("source_key", name="uq_invoices_source_key"),
        Index("ix_invoices_driver_id", "driver_id"),
        Index("ix_invoices_operator_id_period", "operator_id", "period"),
        Index(
            "ix_invoices_pdf_pending", "id", sqlite_where=text("pdf_pending = 1"), postgresql_where=text("pdf_pending")
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    operator_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(40))
    series: Mapped[str | None] = mapped_column(String(20))
    sequence: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str | None] = mapped_column(String(7))
    source_key: Mapped[str] = mapped_column(String(100))
    credits_id: Mapped[int | None] = mapped_column(_ID)
    gross_total: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    parties: Mapped[dict[str, Any]] = mapped_column(JSON)
    locale: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Issued, its PDF not rendered yet: the invoicing worker finds these few rows through a partial index instead of
    # comparing every invoice ever issued with its documents every round (migration 0009).
    pdf_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class InvoiceCdrRow(Base):
    __tablename__ = "invoice_cdrs"

    cdr_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(_ID, index=True)


class InvoiceCounterRow(Base):
    __tablename__ = "invoice_counters"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class InvoiceDocumentRow(Base):
    __tablename__ = "invoice_documents"

    invoice_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    rendered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InvoiceBrandingRow(Base):
    __tablename__ = "invoice_branding"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InvoiceOutboxRow(Base):
    __tablename__ = "invoice_outbox"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_invoice_outbox_message_id"),
        Index("ix_invoice_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(_ID, index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
