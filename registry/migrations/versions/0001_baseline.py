"""The baseline: the schema provreg shipped as `SCHEMA_VERSION = 2`, exactly as `SQLModel.metadata.create_all` made it.

A database that release created carries no Alembic stamp; `registry.migrations` recognises it by its
`schema_version` row and stamps it with this revision instead of running it.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_audit_mark",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),  # one row; create_all made no SERIAL
        sa.Column("note", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "log_checkpoint",
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "log_entry",
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("entry", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("log_index"),
    )
    op.create_index(op.f("ix_log_entry_subject"), "log_entry", ["subject"], unique=False)
    op.create_table(
        "log_node",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "position"),
    )
    op.create_table(
        "publisher",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verification_method", sa.String(length=100), nullable=False),
        sa.Column("verification_evidence", sa.String(length=2000), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verification_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_publisher_name"), "publisher", ["name"], unique=True)
    op.create_table(
        "schema_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "write_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("publisher_id", sa.String(length=40), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publisher.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_api_key_publisher_id"), "api_key", ["publisher_id"], unique=False)
    op.create_index(op.f("ix_api_key_secret_sha256"), "api_key", ["secret_sha256"], unique=True)
    op.create_table(
        "publisher_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=40), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publisher.id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index(op.f("ix_publisher_key_publisher_id"), "publisher_key", ["publisher_id"], unique=False)
    op.create_table(
        "used_nonce",
        sa.Column("publisher_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publisher.id"],
        ),
        sa.PrimaryKeyConstraint("publisher_id", "nonce"),
    )
    op.create_table(
        "key_revocation",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("compromised_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["publisher_key.key_id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("log_index"),
    )
    op.create_table(
        "registration",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("publisher_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.String(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("facts", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["publisher_key.key_id"],
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publisher.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("log_index"),
        sa.UniqueConstraint("publisher_id", "content_sha256"),
    )
    op.create_index(op.f("ix_registration_content_sha256"), "registration", ["content_sha256"], unique=False)
    op.create_index(op.f("ix_registration_created_at"), "registration", ["created_at"], unique=False)
    op.create_index(op.f("ix_registration_publisher_id"), "registration", ["publisher_id"], unique=False)
    op.create_table(
        "content_revocation",
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registration.id"],
        ),
        sa.PrimaryKeyConstraint("registration_id"),
        sa.UniqueConstraint("log_index"),
    )
    op.create_table(
        "local_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registration.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registration_id"),
    )
    op.create_table(
        "media_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("alg", sa.String(length=20), nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registration.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_hash_alg_id", "media_hash", ["alg", "id"], unique=False)
    op.create_index("ix_media_hash_registration_alg", "media_hash", ["registration_id", "alg"], unique=False)
    # Every writing transaction updates this row first (registry.db.take_write_lock); the release wrote it too.
    op.bulk_insert(
        sa.table("write_lock", sa.column("id", sa.Integer), sa.column("generation", sa.Integer)),
        [{"id": 1, "generation": 0}],
    )
    op.bulk_insert(
        sa.table("schema_version", sa.column("id", sa.Integer), sa.column("version", sa.Integer)),
        [{"id": 1, "version": 2}],
    )


def downgrade() -> None:
    op.drop_index("ix_media_hash_registration_alg", table_name="media_hash")
    op.drop_index("ix_media_hash_alg_id", table_name="media_hash")
    op.drop_table("media_hash")
    op.drop_table("local_features")
    op.drop_table("content_revocation")
    op.drop_index(op.f("ix_registration_publisher_id"), table_name="registration")
    op.drop_index(op.f("ix_registration_created_at"), table_name="registration")
    op.drop_index(op.f("ix_registration_content_sha256"), table_name="registration")
    op.drop_table("registration")
    op.drop_table("key_revocation")
    op.drop_table("used_nonce")
    op.drop_index(op.f("ix_publisher_key_publisher_id"), table_name="publisher_key")
    op.drop_table("publisher_key")
    op.drop_index(op.f("ix_api_key_secret_sha256"), table_name="api_key")
    op.drop_index(op.f("ix_api_key_publisher_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("write_lock")
    op.drop_table("schema_version")
    op.drop_index(op.f("ix_publisher_name"), table_name="publisher")
    op.drop_table("publisher")
    op.drop_table("log_node")
    op.drop_index(op.f("ix_log_entry_subject"), table_name="log_entry")
    op.drop_table("log_entry")
    op.drop_table("log_checkpoint")
    op.drop_table("log_audit_mark")
