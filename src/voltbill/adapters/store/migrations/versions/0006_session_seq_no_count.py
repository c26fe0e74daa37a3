"""sessions.seq_no_count: how many TransactionEvents of a 2.0.1 transaction arrived, to detect lost ones.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for 1.6 sessions and for sessions started before this revision: no count, no seqNo gap verdict
    op.add_column("sessions", sa.Column("seq_no_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("seq_no_count")
