"""Support decisions, export follow-ups and the anonymous counts left of erased ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sme_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("support_kind", sa.String(32), nullable=True),
        sa.Column("support_other", sa.Text(), nullable=True),
        sa.Column("target_market", sa.String(16), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("shortlist", sa.JSON(), nullable=True),
        sa.Column("cohort", sa.String(200), nullable=True),
        sa.Column("score_id", sa.Integer(), nullable=False),
        sa.Column("sector", sa.String(32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("ml_probability", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("ruleset_version", sa.String(100), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('support', 'no_support')", name=op.f("ck_support_decisions_decision")
        ),
        sa.ForeignKeyConstraint(
            ["sme_id"],
            ["smes.sme_id"],
            name=op.f("fk_support_decisions_sme_id_smes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["score_id"],
            ["scores.id"],
            name=op.f("fk_support_decisions_score_id_scores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_decisions")),
    )
    op.create_index(
        op.f("ix_support_decisions_sme_id_decided_on"),
        "support_decisions",
        ["sme_id", "decided_on"],
    )
    op.create_index(op.f("ix_support_decisions_decided_on"), "support_decisions", ["decided_on"])
    op.create_table(
        "export_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sme_id", sa.String(64), nullable=False),
        sa.Column("followup_date", sa.Date(), nullable=False),
        sa.Column("exported", sa.Boolean(), nullable=False),
        sa.Column("first_export_date", sa.Date(), nullable=True),
        sa.Column("destination_markets", sa.JSON(), nullable=False),
        sa.Column("export_value_usd", sa.Float(), nullable=True),
        sa.Column("contracts", sa.Integer(), nullable=True),
        sa.Column("learned_via", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sme_id"],
            ["smes.sme_id"],
            name=op.f("fk_export_followups_sme_id_smes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_followups")),
    )
    op.create_index(
        op.f("ix_export_followups_sme_id_followup_date"),
        "export_followups",
        ["sme_id", "followup_date"],
    )
    op.create_table(
        "outcome_aggregates",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("support_kind", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "decision", "support_kind", "tier", "label", name=op.f("pk_outcome_aggregates")
        ),
    )


def downgrade() -> None:
    op.drop_table("outcome_aggregates")
    op.drop_index(op.f("ix_export_followups_sme_id_followup_date"), table_name="export_followups")
    op.drop_table("export_followups")
    op.drop_index(op.f("ix_support_decisions_decided_on"), table_name="support_decisions")
    op.drop_index(op.f("ix_support_decisions_sme_id_decided_on"), table_name="support_decisions")
    op.drop_table("support_decisions")
