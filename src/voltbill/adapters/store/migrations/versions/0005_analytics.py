"""analytics tables: anomaly_reviews.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from voltbill.adapters.store.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("credit_note", sa.String(64), nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=False),
        sa.Column("reviewed_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_anomaly_reviews_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_reviews")),
        sa.UniqueConstraint("operator_id", "session_id", "kind", name="uq_anomaly_reviews_finding"),
    )
    op.create_index(op.f("ix_anomaly_reviews_operator_id"), "anomaly_reviews", ["operator_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_anomaly_reviews_operator_id"), table_name="anomaly_reviews")
    op.drop_table("anomaly_reviews")
