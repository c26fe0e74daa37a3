"""sessions tables: connector status (+ history), sessions, meter values, CDRs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)
DECIMAL = sa.String(40)  # exact decimal text (tables.sessions.DecimalText)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connector_statuses",
        sa.Column("charge_point_id", sa.String(64), sa.ForeignKey("charge_points.id"), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("timestamp", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("charge_point_id", "evse_id", "connector_id", name="pk_connector_statuses"),
    )
    op.create_table(
        "connector_status_history",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), sa.ForeignKey("charge_points.id"), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("timestamp", UTC_DT, nullable=False),
        sa.UniqueConstraint(
            "charge_point_id", "evse_id", "connector_id", "timestamp", "status", name="uq_status_history_change"
        ),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("charge_point_id", sa.String(64), sa.ForeignKey("charge_points.id"), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(64)),
        sa.Column("id_token_type", sa.String(32)),
        sa.Column("auth_status", sa.String(32)),
        sa.Column("driver_id", sa.String(64), sa.ForeignKey("drivers.id")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_date_time", UTC_DT, nullable=False),
        sa.Column("end_date_time", UTC_DT),
        sa.Column("meter_start_wh", DECIMAL),
        sa.Column("meter_stop_wh", DECIMAL),
        sa.Column("kwh", DECIMAL),
        sa.Column("stop_reason", sa.String(32)),
        sa.Column("last_seq_no", sa.Integer),
        sa.Column("last_seen_at", UTC_DT, nullable=False),
        sa.Column("tariff_id", sa.String(64)),
        sa.Column("cdr_id", sa.String(40)),
        sa.Column("start_key", sa.String(64), unique=True),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.UniqueConstraint("charge_point_id", "transaction_id", name="uq_sessions_charge_point_id_transaction_id"),
    )
    op.create_index("ix_sessions_charge_point_id", "sessions", ["charge_point_id"])
    op.create_index("ix_sessions_driver_id", "sessions", ["driver_id"])
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.create_index("ix_sessions_start_date_time", "sessions", ["start_date_time"])
    op.create_index("ix_sessions_last_seen_at", "sessions", ["last_seen_at"])
    op.create_table(
        "meter_values",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("timestamp", UTC_DT, nullable=False),
        sa.Column("measurand", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("value", DECIMAL, nullable=False),
        sa.Column("unit", sa.String(16)),
        sa.Column("context", sa.String(32)),
        sa.UniqueConstraint(
            "charge_point_id", "transaction_id", "timestamp", "measurand", "phase", name="uq_meter_values_sample"
        ),
    )
    op.create_index("ix_meter_values_session_id", "meter_values", ["session_id"])
    op.create_table(
        "cdrs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False, unique=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("currency", sa.String(3)),
        sa.Column("total_excl_vat", DECIMAL),
        sa.Column("total_incl_vat", DECIMAL),
        sa.Column("priced", sa.Boolean, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("end_date_time", UTC_DT, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
    )
    op.create_index("ix_cdrs_charge_point_id", "cdrs", ["charge_point_id"])
    op.create_index("ix_cdrs_driver_id", "cdrs", ["driver_id"])
    op.create_index("ix_cdrs_end_date_time", "cdrs", ["end_date_time"])


def downgrade() -> None:
    for table in ("cdrs", "meter_values", "sessions", "connector_status_history"):
        op.drop_table(table)
    op.drop_table("connector_statuses")
