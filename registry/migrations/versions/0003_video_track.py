"""video track: the frame track (per-frame PDQ and times) of each registered video, for temporal matching

Revision ID: 0003_video_track
Revises: 0002_alembic_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_video_track"
down_revision: str | None = "0002_alembic_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_track",
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


def downgrade() -> None:
    op.drop_table("video_track")
