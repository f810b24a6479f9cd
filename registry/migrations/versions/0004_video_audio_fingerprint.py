"""video audio fingerprint: each registered video's sound track fingerprint beside its frame track, for audio checks

Revision ID: 0004_video_audio_fingerprint
Revises: 0003_video_track

Videos registered before this revision keep a NULL `audio`: a clip whose frames match them is still compared by
sound (the analysis decodes the original's track), but they are not found by sound alone until registered again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_video_audio_fingerprint"
down_revision: str | None = "0003_video_track"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("video_track", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("video_track", schema=None) as batch_op:
        batch_op.drop_column("audio")
