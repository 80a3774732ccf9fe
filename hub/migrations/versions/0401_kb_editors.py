"""kb editors: suggestions, the change log every hub follows, unanswered questions

Revision ID: 0401
Revises: 0001
Create Date: 2026-11-25 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0401"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suggested_by", sa.String(length=120), nullable=True))

    op.create_table(
        "article_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(length=80), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_article_changes")),
    )
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("best_article", sa.String(length=80), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_questions")),
    )
    with op.batch_alter_table("unanswered_questions", schema=None) as batch_op:
        batch_op.create_index("ix_unanswered_questions_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unanswered_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_unanswered_questions_at")
    op.drop_table("unanswered_questions")
    op.drop_table("article_changes")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("suggested_by")
