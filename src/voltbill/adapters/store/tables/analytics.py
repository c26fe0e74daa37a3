"""Analytics tables (Alembic revision 0005): review marks on anomalies.

An anomaly is recomputed from the data every time; what is stored is the operator's verdict on it, one row per
operator, session and kind (the unique key makes "mark as checked" idempotent).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voltbill.adapters.store.metadata import Base
from voltbill.adapters.store.types import UtcDateTime


class AnomalyReviewRow(Base):
    """An anomaly an operator has looked at: ``status`` ``checked`` (genuine or handled) or ``credited`` (a
    credit note was issued, ``credit_note`` names it), who did it and when, with an optional ``note``."""

    __tablename__ = "anomaly_reviews"
    __table_args__ = (UniqueConstraint("operator_id", "session_id", "kind", name="uq_anomaly_reviews_finding"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    credit_note: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_by: Mapped[str] = mapped_column(String(200))
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime)
