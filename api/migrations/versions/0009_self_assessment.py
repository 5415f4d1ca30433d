"""Self-assessment by the SME: invitations (links an SME fills its own profile through)
and the drafts and submissions made through them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sme_id", sa.String(64), nullable=False),
        sa.Column("cohort", sa.String(200), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("show_result", sa.Boolean(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('cohort', 'sme')", name=op.f("ck_invitations_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_invitations_token_sha256")),
    )
    op.create_index(op.f("ix_invitations_sme_id"), "invitations", ["sme_id"])
    op.create_table(
        "self_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("personal", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_version", sa.String(32), nullable=True),
        sa.Column("consent_sha256", sa.String(64), nullable=True),
        sa.Column("consent_language", sa.String(2), nullable=True),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("score_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'accepted', 'rejected')",
            name=op.f("ck_self_assessments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_self_assessments_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["score_id"],
            ["scores.id"],
            name=op.f("fk_self_assessments_score_id_scores"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_assessments")),
    )
    op.create_index(
        op.f("ix_self_assessments_invitation_id_id"), "self_assessments", ["invitation_id", "id"]
    )
    op.create_index(op.f("ix_self_assessments_status_id"), "self_assessments", ["status", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_self_assessments_status_id"), table_name="self_assessments")
    op.drop_index(op.f("ix_self_assessments_invitation_id_id"), table_name="self_assessments")
    op.drop_table("self_assessments")
    op.drop_index(op.f("ix_invitations_sme_id"), table_name="invitations")
    op.drop_table("invitations")
