"""kb_index: learning from use — candidate questions for editors to approve
(kb_candidate_questions) and the calibrations a hub refits as the knowledge base grows, read by
every replica (kb_calibrations)

Revision ID: 1060
Revises: 1020
Create Date: 2026-12-07 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "1060"
down_revision = "1020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_candidate_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("article_id", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("article_id", "lang", "text", name="uq_kb_candidate_questions_article_text"),
    )
    op.create_index("ix_kb_candidate_questions_state", "kb_candidate_questions", ["state", "created_at"])
    op.create_table(
        "kb_calibrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("encoder", sa.String(length=200), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kb_calibrations_encoder", "kb_calibrations", ["encoder", "id"])


def downgrade() -> None:
    op.drop_index("ix_kb_calibrations_encoder", table_name="kb_calibrations")
    op.drop_table("kb_calibrations")
    op.drop_index("ix_kb_candidate_questions_state", table_name="kb_candidate_questions")
    op.drop_table("kb_candidate_questions")
