"""prior registrations: the earlier registrations, by other publishers, of the content a registration repeats

Revision ID: 0006_prior_registrations
Revises: 0005_jobs

Registrations made from this revision on are searched for earlier near-duplicates when they are registered
(`registry.precedence`). Those made before get what the database alone can say: earlier registrations of the same
bytes by another publisher (at most the 10 earliest, as at registration). Perceptual near-duplicates among them are
not backfilled (that takes the match index); the order of a check's matches does not depend on this table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_prior_registrations"
down_revision: str | None = "0005_jobs"
branch_labels = None
depends_on = None

_MAX_PRIORS = 10  # registry.precedence.MAX_PRIORS when this revision was written

_SAME_BYTES = sa.text(
    """
    INSERT INTO prior_registration (registration_id, prior_id, exact)
    SELECT registration_id, prior_id, :exact FROM (
        SELECT later.id AS registration_id, earlier.id AS prior_id,
               ROW_NUMBER() OVER (PARTITION BY later.id ORDER BY earlier.log_index) AS n
        FROM registration AS later
        JOIN registration AS earlier
          ON earlier.content_sha256 = later.content_sha256 AND earlier.kind = later.kind
         AND earlier.publisher_id <> later.publisher_id AND earlier.log_index < later.log_index
    ) AS ranked
    WHERE n <= :most
    """
)


def upgrade() -> None:
    op.create_table(
        "prior_registration",
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("prior_id", sa.String(length=40), nullable=False),
        sa.Column("exact", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["prior_id"], ["registration.id"]),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"]),
        sa.PrimaryKeyConstraint("registration_id", "prior_id"),
    )
    op.execute(_SAME_BYTES.bindparams(exact=True, most=_MAX_PRIORS))


def downgrade() -> None:
    op.drop_table("prior_registration")
