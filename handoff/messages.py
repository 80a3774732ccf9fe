"""A conversation's messages: stored with their real-time event, the agent's reply to the customer,
and the agents' private notes."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import appended, queue_event
from handoff.errors import DuplicateMessage, InvalidTransition, NotYourConversation
from handoff.events import MessageAdded, about
from handoff.finders import get_conversation
from handoff.models import Conversation, Message, State, User, utcnow


async def record_message(
    session: AsyncSession,
    conversation: Conversation,
    *,
    sender: str,
    text: str,
    buttons: list[dict] | None = None,
    data: dict | None = None,
    channel_message_id: str | None = None,
    agent: User | None = None,
    internal: bool = False,
) -> Message:
    """Store one message of the conversation and queue its real-time event. An ``internal``
    message is an agents' private note: it never reaches the customer.

    Raises ``DuplicateMessage`` when the channel already delivered this message id.
    """
    message = Message(
        conversation_id=conversation.id,
        sender=sender,
        agent_id=agent.id if agent else None,
        text=text,
        buttons=buttons or None,
        data=data or None,
        channel=conversation.channel,
        channel_message_id=channel_message_id,
        internal=internal,
        created_at=utcnow(),
    )
    if channel_message_id is None:  # nothing it could duplicate: no savepoint to pay for
        session.add(message)
        await session.flush()
    else:
        try:
            async with session.begin_nested():
                session.add(message)
                await session.flush()
        except IntegrityError as exc:
            raise DuplicateMessage(conversation.channel, channel_message_id) from exc
    activity = {"last_message_at": message.created_at} if not internal else {}
    if sender == "customer":
        activity["last_customer_at"] = message.created_at
    if activity:
        # The conversation's row before its summary (which ``appended`` locks): the order every
        # ownership change takes, so a reply stored while the chat changes hands cannot deadlock.
        await session.execute(update(Conversation).where(Conversation.id == conversation.id).values(**activity))
    await appended(session, message)
    queue_event(
        session,
        MessageAdded(
            **about(conversation),
            message_id=message.id,
            sender=sender,
            text=text,
            buttons=buttons or None,
            agent_name=agent.name if agent else None,
            internal=internal,
            created_at=message.created_at,
            attachments=(data or {}).get("attachments") or None,
            full_text=(data or {}).get("full_text") or None,
        ),
    )
    return message


async def agent_reply(
    session: AsyncSession, conversation_id: str, agent: User, text: str, *, attachments: list[dict] | None = None
) -> Message:
    """The agent who holds the conversation writes to the customer, optionally with files
    (``attachments``, stored as the message's ``data.attachments``). The conversation is locked so
    the reply and ``return_unanswered_claim`` cannot both succeed."""
    conversation = await get_conversation(session, conversation_id, for_update=True)
    if conversation.state != State.HUMAN:
        raise InvalidTransition("take the conversation before replying to it")
    if conversation.agent_id != agent.id:
        raise NotYourConversation()
    data = {"attachments": attachments} if attachments else None
    return await record_message(session, conversation, sender="agent", text=text, agent=agent, data=data)


async def add_note(session: AsyncSession, conversation_id: str, agent: User, text: str) -> Message:
    """A private note for the agents on the conversation; the customer never sees it."""
    conversation = await get_conversation(session, conversation_id)
    return await record_message(session, conversation, sender="agent", text=text, agent=agent, internal=True)
