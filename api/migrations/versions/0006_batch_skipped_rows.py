"""Batches keep the rows of a spreadsheet that are no profiles (totals, notes, signatures),
skipped and reported apart from the rejected rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "batches", sa.Column("skipped_rows", sa.JSON(), server_default="[]", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("skipped_rows")
