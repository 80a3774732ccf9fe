"""kb_index: an unanswered question remembers the article that answers it since
(unanswered_questions.answered_by, answered_at); insights: the summaries' unanswered count includes
the questions the bot could only offer choices for, recounted from the stored messages

Revision ID: 0950
Revises: 0910
Create Date: 2026-12-07 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0950"
down_revision = "0910"
branch_labels = None
depends_on = "0401"  # unanswered_questions is created there (another branch)


def upgrade() -> None:
    with op.batch_alter_table("unanswered_questions") as batch_op:
        batch_op.add_column(sa.Column("answered_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(), nullable=True))

    # The knowledge base's marks per conversation, counted again from the bot's messages: the
    # summaries counted only misses (not choices), and missed the marks Rasa sends apart from the
    # text. The same counts as `balcao insights rebuild`, for these two columns only.
    from handoff.models import Message
    from insights.models import ConversationSummary
    from insights.rebuild import UNANSWERED_MARKS

    kb = Message.data["kb"].as_string()

    def marks(*condition: sa.ColumnElement[bool]) -> sa.ScalarSelect:
        return (
            sa.select(sa.func.count())
            .where(Message.conversation_id == ConversationSummary.conversation_id, Message.sender == "bot", *condition)
            .scalar_subquery()
        )

    op.get_bind().execute(
        sa.update(ConversationSummary).values(kb_asked=marks(kb.is_not(None)), kb_missed=marks(kb.in_(UNANSWERED_MARKS)))
    )


def downgrade() -> None:
    with op.batch_alter_table("unanswered_questions") as batch_op:
        batch_op.drop_column("answered_at")
        batch_op.drop_column("answered_by")
