"""sessions: an index on (charge_point_id, status) instead of charge_point_id alone.

The write-behind batch looked its sessions up by "charger in the batch and (transaction in the batch or active)",
which on SQLite read every session the batch's chargers ever had: a batch of 200 chargers cost 12.6 ms of CPU with
one past session per charger, 22 ms with 100 and 72 ms with 1,000 (half a year of a busy AC charger;
benchmarks/meter_batch.py). It now looks up its
(charger, transaction) pairs in the unique index and the active sessions of a charger in this one, as the liveness
job does; the new index also serves every lookup by charger alone that the old one served.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_charge_point_id_status", "sessions", ["charge_point_id", "status"])
    op.drop_index("ix_sessions_charge_point_id", table_name="sessions")


def downgrade() -> None:
    op.create_index("ix_sessions_charge_point_id", "sessions", ["charge_point_id"])
    op.drop_index("ix_sessions_charge_point_id_status", table_name="sessions")
