"""sessions: the web desk's server-side sessions, and rate-limit buckets shared by every API process

Revision ID: 0007_sessions
Revises: 0006_prior_registrations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sessions"
down_revision: str | None = "0006_prior_registrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=40), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["publisher_id"], ["publisher.id"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_session_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_session_publisher_id"), ["publisher_id"], unique=False)
    op.create_table(
        "rate_bucket",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    with op.batch_alter_table("rate_bucket", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_bucket_tat"), ["tat"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Rate-limit state need not survive a crash; not writing it to the WAL keeps a flood's 429s cheap.
        op.execute("ALTER TABLE rate_bucket SET UNLOGGED")


def downgrade() -> None:
    with op.batch_alter_table("rate_bucket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_bucket_tat"))
    op.drop_table("rate_bucket")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_publisher_id"))
        batch_op.drop_index(batch_op.f("ix_web_session_expires_at"))
        batch_op.drop_index(batch_op.f("ix_web_session_api_key_id"))
    op.drop_table("web_session")
