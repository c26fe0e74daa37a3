"""ledger tables: double-entry transfers and postings, payments, refunds, cards on file, wallet settings,
webhook events and idempotent request answers.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_AMOUNT = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "ledger_transfers",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("reference", sa.String(100)),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transfers"),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_transfers_idempotency_key"),
    )
    op.create_index("ix_ledger_transfers_driver_id", "ledger_transfers", ["driver_id"])
    op.create_index("ix_ledger_transfers_reference", "ledger_transfers", ["reference"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("transfer_id", _ID, nullable=False),
        sa.Column("account", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_postings"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfers.id"], name="fk_ledger_postings_transfer_id_ledger_transfers"
        ),
    )
    op.create_index("ix_ledger_postings_transfer_id", "ledger_postings", ["transfer_id"])
    op.create_index("ix_ledger_postings_account_currency", "ledger_postings", ["account", "currency"])
    op.create_table(
        "payments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(100)),
        sa.Column("cdr_id", sa.String(100)),
        sa.Column("id_token", sa.String(64)),
        sa.Column("payment_method", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(20)),
        sa.Column("provider_ref", sa.String(100)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("authorised_amount", _AMOUNT),
        sa.Column("amount", _AMOUNT),
        sa.Column("captured_amount", _AMOUNT, nullable=False),
        sa.Column("refunded_amount", _AMOUNT, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("session_id", name="uq_payments_session_id"),
    )
    for column in ("driver_id", "cdr_id", "id_token", "provider_ref", "status", "next_attempt_at"):
        op.create_index(f"ix_payments_{column}", "payments", [column])
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("amount", _AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider_ref", sa.String(100)),
        sa.Column("reason", sa.String(200)),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_refunds"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_payment_refunds_payment_id_payments"),
        sa.UniqueConstraint("idempotency_key", name="uq_payment_refunds_idempotency_key"),
    )
    op.create_index("ix_payment_refunds_payment_id", "payment_refunds", ["payment_id"])
    op.create_table(
        "payment_cards",
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("payment_method_id", sa.String(100), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("driver_id", name="pk_payment_cards"),
    )
    op.create_table(
        "wallet_settings",
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("auto_top_up_threshold", _AMOUNT),
        sa.Column("auto_top_up_amount", _AMOUNT),
        sa.PrimaryKeyConstraint("driver_id", name="pk_wallet_settings"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_webhook_events"),
    )
    op.create_table(
        "payment_requests",
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_payment_requests"),
    )


def downgrade() -> None:
    for table in (
        "payment_requests",
        "webhook_events",
        "wallet_settings",
        "payment_cards",
        "payment_refunds",
        "payments",
        "ledger_postings",
        "ledger_transfers",
    ):
        op.drop_table(table)
