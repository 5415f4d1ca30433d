"""Scores keep their category scores in a column of their own, and an index on
``(sector, sme_id, id)`` finds each SME's latest score in a sector: a sector's average
category scores (drawn on every SME's page) read those small values, not every record.

The upgrade copies each stored record's ``category_scores`` into the new column (one
pass over ``scores``: on a large PostgreSQL table it rewrites every row, so run it in a
quiet hour after the backup of the upgrade procedure). The downgrade drops the column
and the index; the records still hold the values.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("scores", sa.Column("category_scores", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE scores SET category_scores = record -> 'category_scores'")
    else:
        op.execute("UPDATE scores SET category_scores = json_extract(record, '$.category_scores')")
    op.create_index(op.f("ix_scores_sector_sme_id_id"), "scores", ["sector", "sme_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_scores_sector_sme_id_id"), table_name="scores")
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("category_scores")
