"""Initial schema: SMEs, personal data, cohorts, batches, scores, aggregates, keys, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _sme_id_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["sme_id"], ["smes.sme_id"], name=op.f(f"fk_{table}_sme_id_smes"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("at"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cohort", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("row_errors", sa.JSON(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed')", name=op.f("ck_batches_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_table(
        "score_aggregates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("ruleset_version", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "sector",
            "tier",
            "model_version",
            "ruleset_version",
            name=op.f("pk_score_aggregates"),
        ),
    )
    op.create_table(
        "smes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sme_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smes")),
        sa.UniqueConstraint("sme_id", name=op.f("uq_smes_sme_id")),
    )
    op.create_index(op.f("ix_smes_sector"), "smes", ["sector"])
    op.create_table(
        "cohort_members",
        sa.Column("cohort", sa.String(length=200), nullable=False),
        sa.Column("sme_id", sa.String(length=64), nullable=False),
        _sme_id_fk("cohort_members"),
        sa.PrimaryKeyConstraint("cohort", "sme_id", name=op.f("pk_cohort_members")),
    )
    op.create_index(op.f("ix_cohort_members_sme_id"), "cohort_members", ["sme_id"])
    op.create_table(
        "personal_data",
        sa.Column("sme_id", sa.String(length=64), nullable=False),
        sa.Column("owner_gender", sa.String(length=16), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("contact_phone", sa.String(length=50), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("district", sa.String(length=100), nullable=True),
        _sme_id_fk("personal_data"),
        sa.PrimaryKeyConstraint("sme_id", name=op.f("pk_personal_data")),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sme_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("rules_score", sa.Float(), nullable=False),
        sa.Column("ml_probability", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("ruleset_version", sa.String(length=100), nullable=False),
        _timestamp("scored_at"),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_scores_batch_id_batches")
        ),
        _sme_id_fk("scores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
    )
    op.create_index(op.f("ix_scores_batch_id_id"), "scores", ["batch_id", "id"])
    op.create_index(op.f("ix_scores_sme_id_id"), "scores", ["sme_id", "id"])


def downgrade() -> None:
    for table in (
        "scores",
        "personal_data",
        "cohort_members",
        "smes",
        "score_aggregates",
        "batches",
        "audit_events",
        "api_keys",
    ):
        op.drop_table(table)  # indexes go with their table
