"""Questions the bot answered and the customer confirmed: what ``balcao kb tune`` learns from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
        found = await confirmed_answer(session, conversation_id, until=closed_at)
        if found is not None:
            out.append(found)
    return out


async def _history(session: AsyncSession, conversation_id: str, until: datetime | None) -> Sequence[Message]:
    """The conversation's messages the customer saw (no private notes), oldest first."""
    stmt = select(Message).where(Message.conversation_id == conversation_id, Message.internal.is_(False))
    if until is not None:
        stmt = stmt.where(Message.created_at <= until)
    return (await session.scalars(stmt.order_by(Message.created_at, Message.id))).all()


async def confirmed_answer(
    session: AsyncSession, conversation_id: str, *, until: datetime | None = None
) -> ConfirmedAnswer | None:
    """The customer's question and the last article shown before ``until`` (now: None), in a
    conversation the customer said was solved; None when the bot showed no article for a question.

    The question is the customer message the bot marked as a new knowledge-base question (its reply
    carries ``kb``: answer, clarify or miss), so a tapped choice or the "yes" itself is never taken
    for the question."""
    conversation = await session.get(Conversation, conversation_id)
    question: str | None = None
    last_customer: str | None = None
    article: str | None = None
    for message in await _history(session, conversation_id, until):
        data = message.data or {}
        if message.sender == "customer":
            last_customer = message.text
        elif message.sender == "bot":
            if data.get("kb") in ("answer", "clarify", "miss"):
                question, article = last_customer, None
            if data.get("article"):
                article = str(data["article"])
    if question and article and conversation is not None:
        return ConfirmedAnswer(question.strip(), conversation.language, article)
    return None


async def clarified_question(session: AsyncSession, conversation_id: str) -> str | None:
    """The customer's question the bot's latest offer of options (``kb``: clarify) was for: the
    customer message just before that offer; None when the bot offered none."""
    last_customer: str | None = None
    question: str | None = None
    for message in await _history(session, conversation_id, None):
        if message.sender == "customer":
            last_customer = message.text
        elif message.sender == "bot" and (message.data or {}).get("kb") == "clarify":
            question = last_customer
    return question.strip() if question else None


async def asked_before(session: AsyncSession, conversation_id: str, message_id: int) -> list[str]:
    """What the customer wrote since the previous agent's reply up to the agent's reply
    ``message_id``, oldest first: the questions that reply answered."""
    asked: list[str] = []
    for message in await _history(session, conversation_id, None):
        if message.id == message_id:
            return asked
        if message.sender == "agent":
            asked = []
        elif message.sender == "customer" and message.text.strip():
            asked.append(message.text.strip())
    return []
