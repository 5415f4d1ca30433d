"""Background batches: queued status, progress, idempotency keys, job leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES_BEFORE = "status IN ('running', 'complete', 'failed')"
_STATUSES_AFTER = "status IN ('queued', 'running', 'complete', 'failed')"


def _new_columns() -> list[sa.Column]:
    return [
        sa.Column("rows_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("staging_path", sa.Text(), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        for column in _new_columns():
            batch_op.add_column(column)
        batch_op.drop_constraint(op.f("ck_batches_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_batches_status"), _STATUSES_AFTER)
        batch_op.create_unique_constraint(
            op.f("uq_batches_actor_idempotency_key"), ["actor", "idempotency_key"]
        )


def downgrade() -> None:
    # Background batches not yet finished cannot go on without these columns: they are
    # marked failed (the old schema knows no "queued"), their staging files left to delete.
    op.execute(
        "UPDATE batches SET status = 'failed', failure_reason = 'schema downgraded' "
        "WHERE status = 'queued' OR (status = 'running' AND worker IS NOT NULL)"
    )
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_constraint(op.f("uq_batches_actor_idempotency_key"), type_="unique")
        batch_op.drop_constraint(op.f("ck_batches_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_batches_status"), _STATUSES_BEFORE)
        for column in reversed(_new_columns()):
            batch_op.drop_column(column.name)
