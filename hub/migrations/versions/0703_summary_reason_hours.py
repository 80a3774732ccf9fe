"""conversation summaries: the survey's reason, partial indexes for detractors' reasons and handled conversations, and the hourly counts (conversation_hours), for the month page

Revision ID: 0703
Revises: 0702
Create Date: 2026-12-03 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0703"
down_revision = "0702"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_summaries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
    # Backfill: each surveyed conversation's reason, from its survey.
    op.execute(
        "UPDATE conversation_summaries SET reason = "
        "(SELECT surveys.reason FROM surveys WHERE surveys.conversation_id = conversation_summaries.conversation_id) "
        "WHERE surveyed = 1"
    )
    with op.batch_alter_table("conversation_summaries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_summaries_detractors",
            ["started_at"],
            unique=False,
            postgresql_where=sa.text("score <= 6 AND reason IS NOT NULL"),
            sqlite_where=sa.text("score <= 6 AND reason IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_conversation_summaries_handled",
            ["started_at"],
            unique=False,
            postgresql_include=["agent_id", "picked_at", "handle_s"],
            postgresql_where=sa.text("handle_s IS NOT NULL"),
            sqlite_where=sa.text("handle_s IS NOT NULL"),
        )
    op.create_table(
        "conversation_hours",
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("deflected", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("passives", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("score_0", sa.Integer(), nullable=False),
        sa.Column("score_1", sa.Integer(), nullable=False),
        sa.Column("score_2", sa.Integer(), nullable=False),
        sa.Column("score_3", sa.Integer(), nullable=False),
        sa.Column("score_4", sa.Integer(), nullable=False),
        sa.Column("score_5", sa.Integer(), nullable=False),
        sa.Column("score_6", sa.Integer(), nullable=False),
        sa.Column("score_7", sa.Integer(), nullable=False),
        sa.Column("score_8", sa.Integer(), nullable=False),
        sa.Column("score_9", sa.Integer(), nullable=False),
        sa.Column("score_10", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_0", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_1", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_2", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_3", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_4", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_5", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_6", sa.Integer(), nullable=False),
        sa.Column("wait_bucket_7", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_conversation_hours")),
    )
    # Backfill: the hours' counts summed from the summaries (as `balcao insights rebuild` does).
    from insights.summaries import rebuild_hours_statement

    op.get_bind().execute(rebuild_hours_statement())


def downgrade() -> None:
    op.drop_table("conversation_hours")
    with op.batch_alter_table("conversation_summaries", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_summaries_handled")
        batch_op.drop_index("ix_conversation_summaries_detractors")
        batch_op.drop_column("reason")
