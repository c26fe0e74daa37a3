"""invoices tables: invoices, billed CDRs, gap-free counters, rendered PDFs, branding, e-mail outbox.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(40)),
        sa.Column("series", sa.String(20)),
        sa.Column("sequence", sa.Integer()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period", sa.String(7)),
        sa.Column("source_key", sa.String(100), nullable=False),
        sa.Column("credits_id", _ID),
        sa.Column("gross_total", sa.String(40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("issued_at", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("operator_id", "number", name="uq_invoices_operator_id_number"),
        sa.UniqueConstraint("source_key", name="uq_invoices_source_key"),
    )
    op.create_index("ix_invoices_driver_id", "invoices", ["driver_id"])
    op.create_index("ix_invoices_operator_id_period", "invoices", ["operator_id", "period"])
    op.create_table(
        "invoice_cdrs",
        sa.Column("cdr_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("cdr_id", name="pk_invoice_cdrs"),
    )
    op.create_index("ix_invoice_cdrs_invoice_id", "invoice_cdrs", ["invoice_id"])
    op.create_table(
        "invoice_counters",
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("series", sa.String(20), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", "series", name="pk_invoice_counters"),
    )
    op.create_table(
        "invoice_documents",
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("rendered_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name="pk_invoice_documents"),
    )
    op.create_table(
        "invoice_branding",
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("logo", sa.LargeBinary()),
        sa.Column("logo_type", sa.String(8)),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("operator_id", name="pk_invoice_branding"),
    )
    op.create_table(
        "invoice_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("sent_at", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_outbox"),
        sa.UniqueConstraint("message_id", name="uq_invoice_outbox_message_id"),
    )
    op.create_index("ix_invoice_outbox_invoice_id", "invoice_outbox", ["invoice_id"])
    op.create_index("ix_invoice_outbox_status_next_attempt_at", "invoice_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "invoice_outbox",
        "invoice_branding",
        "invoice_documents",
        "invoice_counters",
        "invoice_cdrs",
        "invoices",
    ):
        op.drop_table(table)
