"""Conversation lifecycle: every ownership change is one function here, done by compare-and-set
on the conversation's version so two agents or two hub replicas can never both win."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import appended, queue_event
from handoff.events import MessageAdded, OwnerChanged, about
from handoff.models import Conversation, Message, OwnershipEvent, Priority, Role, State, TeamMember, User, utcnow

OPEN_STATES = (State.BOT, State.QUEUED, State.HUMAN, State.CLOSING)


class HandoffError(Exception):
    """Base of handoff's errors; the message says what happened in words an agent understands."""


class ConversationNotFound(HandoffError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} does not exist")


class InvalidTransition(HandoffError):
    """The conversation is not in a state that allows the change (or someone else changed it first)."""


class AlreadyClaimed(InvalidTransition):
    def __init__(self) -> None:
        super().__init__("another agent has already taken this conversation")


class DuplicateMessage(HandoffError):
    def __init__(self, channel: str, channel_message_id: str) -> None:
        super().__init__(f"message {channel_message_id} from {channel} was already received")


class NotYourConversation(HandoffError):
    def __init__(self) -> None:
        super().__init__("this conversation is handled by another agent")


class CannotReceiveTransfer(HandoffError):
    """The person chosen for a transfer may not take chats of that team."""

    def __init__(self, user: User, team_id: str | None, why: str) -> None:
        super().__init__(
            f"{user.name} cannot receive this conversation: {why}; choose an active agent of the team {team_id or '(none)'}"
        )
        self.user_id = user.id
        self.team_id = team_id


RECEIVING_ROLES = (Role.AGENT.value, Role.SUPERVISOR.value, Role.ADMIN.value)


async def _check_can_receive(session: AsyncSession, user: User, team_id: str | None) -> None:
    """Only an active agent (or supervisor, admin) who is a member of ``team_id`` may receive a chat of it."""
    if not user.active:
        raise CannotReceiveTransfer(user, team_id, "their account is deactivated")
    if user.role not in RECEIVING_ROLES:
        raise CannotReceiveTransfer(user, team_id, f"their role is {user.role}, not agent")
    member = await session.scalar(select(TeamMember.user_id).where(TeamMember.user_id == user.id, TeamMember.team_id == team_id))
    if team_id is None or member is None:
        raise CannotReceiveTransfer(user, team_id, f"they are not a member of the team {team_id or '(none)'}")


async def start_conversation(
    session: AsyncSession,
    *,
    channel: str,
    customer_id: str,
    language: str,
    customer_name: str | None = None,
) -> Conversation:
    """Open a new conversation owned by the bot."""
    conversation = Conversation(
        id=uuid.uuid4().hex,
        channel=channel,
        customer_id=customer_id,
        customer_name=customer_name,
        language=language,
        state=State.BOT,
        version=0,
        created_at=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    await appended(session, conversation)
    return conversation


async def get_conversation(session: AsyncSession, conversation_id: str, *, for_update: bool = False) -> Conversation:
    """The conversation, freshly read from the database."""
    stmt = select(Conversation).where(Conversation.id == conversation_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    conversation = (await session.execute(stmt)).scalar_one_or_none()
    if conversation is None:
        raise ConversationNotFound(conversation_id)
    return conversation


async def find_open_conversation(session: AsyncSession, *, channel: str, customer_id: str) -> Conversation | None:
    """The customer's conversation on this channel that has not ended, if any."""
    stmt = (
        select(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.customer_id == customer_id,
            Conversation.state.in_(OPEN_STATES),
        )
        .order_by(Conversation.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


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
    try:
        async with session.begin_nested():
            session.add(message)
            await session.flush()
    except IntegrityError as exc:
        raise DuplicateMessage(conversation.channel, channel_message_id or "?") from exc
    await appended(session, message)
    activity = {"last_message_at": message.created_at} if not internal else {}
    if sender == "customer":
        activity["last_customer_at"] = message.created_at
    if activity:
        await session.execute(update(Conversation).where(Conversation.id == conversation.id).values(**activity))
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
        ),
    )
    return message


async def _transition(
    session: AsyncSession,
    conversation_id: str,
    *,
    allowed_from: Iterable[State],
    to: State,
    actor: str,
    reason: str | None = None,
    agent: User | None = None,
    conflict: type[InvalidTransition] | None = None,
    **values: object,
) -> Conversation:
    """Move the conversation to ``to`` if it is in one of ``allowed_from``, by compare-and-set."""
    conversation = await get_conversation(session, conversation_id)
    from_state, from_team = conversation.state, conversation.team_id
    if from_state not in set(allowed_from):
        if conflict is not None:
            raise conflict()
        raise InvalidTransition(f"a conversation that is {from_state.value} cannot become {to.value}")
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.version == conversation.version)
        .values(state=to, version=conversation.version + 1, **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult, which has it
        # Someone else changed it between our read and our write: they won.
        if conflict is not None:
            raise conflict()
        raise InvalidTransition("the conversation was changed by someone else; reload it")
    conversation = await get_conversation(session, conversation_id)
    event = OwnershipEvent(
        conversation_id=conversation_id,
        at=utcnow(),
        actor=actor,
        from_state=from_state.value,
        to_state=to.value,
        team_id=conversation.team_id,
        agent_id=conversation.agent_id,
        reason=reason,
    )
    session.add(event)
    await session.flush()
    await appended(session, event)
    queue_event(
        session,
        OwnerChanged(
            **about(conversation),
            from_state=from_state.value,
            to_state=to.value,
            previous_team_id=from_team,
            reason=reason,
            agent_name=agent.name if agent else None,
        ),
    )
    return conversation


async def escalate_conversation(
    session: AsyncSession,
    conversation_id: str,
    *,
    team_id: str,
    priority: Priority,
    reason: str,
    actor: str = "bot",
) -> Conversation:
    """Hand the conversation from the bot to the team's queue. From then on Rasa is not asked."""
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.BOT, State.CLOSING),
        to=State.QUEUED,
        actor=actor,
        reason=reason,
        team_id=team_id,
        priority=int(priority),
        escalation_reason=reason,
        queued_at=utcnow(),
        agent_id=None,
    )


async def claim_conversation(session: AsyncSession, conversation_id: str, agent: User) -> Conversation:
    """The agent takes a queued conversation. Of two concurrent claims exactly one wins; the other
    raises ``AlreadyClaimed``."""
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.QUEUED,),
        to=State.HUMAN,
        actor=f"agent:{agent.id}",
        agent=agent,
        conflict=AlreadyClaimed,
        agent_id=agent.id,
    )


async def close_conversation(
    session: AsyncSession, conversation_id: str, agent: User, *, reason: str = "resolved"
) -> Conversation:
    """The agent ends their part; the bot owns the chat again to run the ending (NPS)."""
    conversation = await get_conversation(session, conversation_id)
    if conversation.agent_id != agent.id:
        raise NotYourConversation()
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.HUMAN,),
        to=State.CLOSING,
        actor=f"agent:{agent.id}",
        reason=reason,
        agent=agent,
    )


async def begin_closing(session: AsyncSession, conversation_id: str, *, actor: str, reason: str) -> Conversation:
    """The bot starts the ending (customer said yes/bye, or went quiet): NPS comes next."""
    return await _transition(session, conversation_id, allowed_from=(State.BOT,), to=State.CLOSING, actor=actor, reason=reason)


async def end_conversation(session: AsyncSession, conversation_id: str, *, actor: str, reason: str) -> Conversation:
    """The conversation is over; a new message from the customer starts a new one."""
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.BOT, State.CLOSING),
        to=State.ENDED,
        actor=actor,
        reason=reason,
        ended_at=utcnow(),
    )


async def conversation_history(session: AsyncSession, conversation_id: str, *, include_notes: bool = True) -> Sequence[Message]:
    """Every message of the conversation, bot part included, oldest first. Customers' views pass
    ``include_notes=False``: agents' private notes are not theirs to see."""
    stmt = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    if not include_notes:
        stmt = stmt.where(Message.internal.is_(False))
    return (await session.execute(stmt)).scalars().all()


async def list_queue(session: AsyncSession, team_ids: Sequence[str] | None) -> Sequence[Conversation]:
    """Queued conversations of these teams (all teams when ``None``): highest priority, then oldest first."""
    stmt = select(Conversation).where(Conversation.state == State.QUEUED)
    if team_ids is not None:
        stmt = stmt.where(Conversation.team_id.in_(team_ids))
    stmt = stmt.order_by(Conversation.priority.desc(), Conversation.queued_at)
    return (await session.execute(stmt)).scalars().all()


async def list_agent_conversations(session: AsyncSession, agent_id: int) -> Sequence[Conversation]:
    """The conversations this agent is handling now."""
    stmt = (
        select(Conversation)
        .where(Conversation.state == State.HUMAN, Conversation.agent_id == agent_id)
        .order_by(Conversation.queued_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def quiet_conversations(session: AsyncSession, *, silent_since: datetime) -> Sequence[Conversation]:
    """Bot-owned or closing conversations in which nobody has written since ``silent_since``
    (and the customer wrote at least once)."""
    stmt = select(Conversation).where(
        Conversation.state.in_((State.BOT, State.CLOSING)),
        Conversation.last_customer_at.is_not(None),
        Conversation.last_message_at < silent_since,
    )
    return (await session.execute(stmt)).scalars().all()


async def latest_conversation(session: AsyncSession, *, channel: str, customer_id: str) -> Conversation | None:
    """The customer's most recent conversation on this channel, ended or not."""
    stmt = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def agent_reply(
    session: AsyncSession, conversation_id: str, agent: User, text: str, *, attachments: list[dict] | None = None
) -> Message:
    """The agent who holds the conversation writes to the customer, optionally with files
    (``attachments``, stored as the message's ``data.attachments``)."""
    conversation = await get_conversation(session, conversation_id)
    if conversation.state != State.HUMAN:
        raise InvalidTransition("take the conversation before replying to it")
    if conversation.agent_id != agent.id:
        raise NotYourConversation()
    data = {"attachments": attachments} if attachments else None
    return await record_message(session, conversation, sender="agent", text=text, agent=agent, data=data)


def can_access(conversation: Conversation, user: User, team_ids: Sequence[str] | None) -> bool:
    """Whether ``user`` (in ``team_ids``; ``None`` for every team) may read this conversation."""
    return team_ids is None or conversation.agent_id == user.id or conversation.team_id in team_ids


async def add_note(session: AsyncSession, conversation_id: str, agent: User, text: str) -> Message:
    """A private note for the agents on the conversation; the customer never sees it."""
    conversation = await get_conversation(session, conversation_id)
    return await record_message(session, conversation, sender="agent", text=text, agent=agent, internal=True)


async def transfer_conversation(
    session: AsyncSession,
    conversation_id: str,
    by: User,
    *,
    team_id: str | None = None,
    to_agent: User | None = None,
    note: str = "",
) -> Conversation:
    """Send the conversation to another team's queue, or straight to another agent, with a note.

    The agent who holds it may transfer it; a supervisor or admin may move any open handoff.
    Only an active agent who is a member of the target team may receive it
    (``CannotReceiveTransfer`` otherwise: editors, deactivated accounts, other teams' agents).
    """
    conversation = await get_conversation(session, conversation_id)
    supervising = by.role in ("supervisor", "admin")
    if conversation.state == State.HUMAN and conversation.agent_id != by.id and not supervising:
        raise NotYourConversation()
    if not team_id and to_agent is None:
        raise InvalidTransition("choose a team or an agent to transfer to")
    if to_agent is not None:
        await _check_can_receive(session, to_agent, team_id or conversation.team_id)
    if note.strip():
        await record_message(session, conversation, sender="agent", text=note.strip(), agent=by, internal=True)
    actor = f"agent:{by.id}"
    if to_agent is not None:
        return await _transition(
            session,
            conversation_id,
            allowed_from=(State.QUEUED, State.HUMAN),
            to=State.HUMAN,
            actor=actor,
            reason="transfer",
            agent=to_agent,
            agent_id=to_agent.id,
            team_id=team_id or conversation.team_id,
        )
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.QUEUED, State.HUMAN),
        to=State.QUEUED,
        actor=actor,
        reason="transfer",
        team_id=team_id,
        agent_id=None,
        queued_at=utcnow(),
    )


async def unassign_conversation(session: AsyncSession, conversation_id: str, by: User) -> Conversation:
    """Put the conversation back in its team's queue (keeping its place by priority, not its age)."""
    conversation = await get_conversation(session, conversation_id)
    if conversation.agent_id != by.id and by.role not in ("supervisor", "admin"):
        raise NotYourConversation()
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.HUMAN,),
        to=State.QUEUED,
        actor=f"agent:{by.id}",
        reason="unassigned",
        agent_id=None,
    )


async def assign_conversation(session: AsyncSession, conversation_id: str, agent: User, *, actor: str = "system") -> Conversation:
    """Give a queued conversation to an agent (automatic assignment, or a supervisor's choice)."""
    conversation = await _transition(
        session,
        conversation_id,
        allowed_from=(State.QUEUED,),
        to=State.HUMAN,
        actor=actor,
        reason="assigned",
        agent=agent,
        conflict=AlreadyClaimed,
        agent_id=agent.id,
    )
    await session.execute(update(User).where(User.id == agent.id).values(last_assigned_at=utcnow()))
    return conversation


async def abandon_conversation(session: AsyncSession, conversation_id: str, *, reason: str) -> Conversation:
    """The customer left while waiting in the queue."""
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.QUEUED,),
        to=State.ABANDONED,
        actor="customer",
        reason=reason,
        ended_at=utcnow(),
    )


async def queued_conversations(session: AsyncSession) -> Sequence[Conversation]:
    """Every waiting conversation (for the abandonment check)."""
    return (await session.execute(select(Conversation).where(Conversation.state == State.QUEUED))).scalars().all()


async def customer_conversations(
    session: AsyncSession, *, channel: str, customer_id: str, limit: int = 10
) -> Sequence[Conversation]:
    """The customer's latest conversations on this channel, newest first (their profile's history)."""
    stmt = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()
