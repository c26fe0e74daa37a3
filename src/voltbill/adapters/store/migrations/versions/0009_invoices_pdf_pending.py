"""invoices.pdf_pending: issued documents whose PDF is not rendered yet, behind a partial index.

The invoicing worker looked for them every 5 s as "numbered invoices NOT IN (every rendered document)", which read
every invoice and every stored PDF's row (a few KiB of each PDF lives in its row) each round: the cost of a round grew
with the whole history (benchmarks/catch_up.py). The flag is set when a document is numbered and cleared in the
transaction that stores its PDF; the index holds only the flagged rows.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("pdf_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE invoices SET pdf_pending = TRUE WHERE number IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM invoice_documents d WHERE d.invoice_id = invoices.id)"
    )
    op.create_index(
        "ix_invoices_pdf_pending",
        "invoices",
        ["id"],
        sqlite_where=sa.text("pdf_pending = 1"),
        postgresql_where=sa.text("pdf_pending"),
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_pdf_pending", table_name="invoices")
    op.drop_column("invoices", "pdf_pending")
