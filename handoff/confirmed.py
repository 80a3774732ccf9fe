"""Questions the bot answered and the customer confirmed: what ``balcao kb tune`` learns from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Conversation, Message, OwnershipEvent, State


@dataclass(frozen=True)
class ConfirmedAnswer:
    """A customer's question and the article the customer said solved it."""

    question: str
    lang: str
    article_id: str


async def confirmed_answers(session: AsyncSession, *, limit: int = 10_000) -> list[ConfirmedAnswer]:
    """The newest conversations the bot closed as resolved (the customer said yes to "did that solve
    it?"): the customer's question and the last article shown before that yes.

    The question is the customer message the bot marked as a new knowledge-base question (its reply
    carries ``kb``: answer, clarify or miss), so a tapped choice or the "yes" itself is never taken
    for the question."""
    resolved = (
        select(OwnershipEvent.conversation_id, OwnershipEvent.at)
        .where(OwnershipEvent.to_state == State.CLOSING.value, OwnershipEvent.actor == "bot", OwnershipEvent.reason == "resolved")
        .order_by(OwnershipEvent.at.desc())
        .limit(limit)
    )
    out: list[ConfirmedAnswer] = []
    for conversation_id, closed_at in (await session.execute(resolved)).all():
        conversation = await session.get(Conversation, conversation_id)
        rows = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.created_at <= closed_at, Message.internal.is_(False))
            .order_by(Message.created_at, Message.id)
        )
        question: str | None = None
        last_customer: str | None = None
        article: str | None = None
        for message in rows:
            data = message.data or {}
            if message.sender == "customer":
                last_customer = message.text
            elif message.sender == "bot":
                if data.get("kb") in ("answer", "clarify", "miss"):
                    question, article = last_customer, None
                if data.get("article"):
                    article = str(data["article"])
        if question and article and conversation is not None:
            out.append(ConfirmedAnswer(question.strip(), conversation.language, article))
    return out
