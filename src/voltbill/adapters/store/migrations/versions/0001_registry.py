"""registry tables: operators, api_keys, instance_secrets, locations, charge_points, drivers, users, tokens,
tariff_versions.

Revision ID: 0001
Revises: None
"""

import sqlalchemy as sa
from alembic import op

from voltbill.adapters.store.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("allow_unauthenticated_chargers", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_api_keys_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_operator_id"), "api_keys", ["operator_id"])
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("city", sa.String(45), nullable=False),
        sa.Column("postal_code", sa.String(10), nullable=True),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("latitude", sa.String(16), nullable=False),
        sa.Column("longitude", sa.String(16), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_locations_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_index(op.f("ix_locations_operator_id"), "locations", ["operator_id"])
    op.create_table(
        "charge_points",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("tariff_id", sa.String(36), nullable=True),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(50), nullable=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("firmware_version", sa.String(50), nullable=True),
        sa.Column("protocol", sa.String(16), nullable=True),
        sa.Column("last_seen_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_charge_points_operator_id_operators")),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_charge_points_location_id_locations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_points")),
    )
    op.create_index(op.f("ix_charge_points_operator_id"), "charge_points", ["operator_id"])
    op.create_index(op.f("ix_charge_points_location_id"), "charge_points", ["location_id"])
    op.create_table(
        "drivers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("locale", sa.String(16), nullable=True),
        sa.Column("payment_method", sa.String(16), nullable=False),
        sa.Column("billing_address", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_drivers_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drivers")),
    )
    op.create_index(op.f("ix_drivers_operator_id"), "drivers", ["operator_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("driver_id", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_users_operator_id_operators")),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name=op.f("fk_users_driver_id_drivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_operator_id"), "users", ["operator_id"])
    op.create_table(
        "tokens",
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_tokens_operator_id_operators")),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name=op.f("fk_tokens_driver_id_drivers")),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_tokens")),
    )
    op.create_index(op.f("ix_tokens_operator_id"), "tokens", ["operator_id"])
    op.create_index(op.f("ix_tokens_driver_id"), "tokens", ["driver_id"])
    op.create_table(
        "tariff_versions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tariff_id", sa.String(36), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", UtcDateTime(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_tariff_versions_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tariff_versions")),
        sa.UniqueConstraint("tariff_id", "version", name=op.f("uq_tariff_versions_tariff_id_version")),
    )
    op.create_index(op.f("ix_tariff_versions_tariff_id"), "tariff_versions", ["tariff_id"])
    op.create_index(op.f("ix_tariff_versions_operator_id"), "tariff_versions", ["operator_id"])


def downgrade() -> None:
    for table in (
        "tariff_versions",
        "tokens",
        "users",
        "drivers",
        "charge_points",
        "locations",
        "instance_secrets",
        "api_keys",
        "operators",
    ):
        op.drop_table(table)
