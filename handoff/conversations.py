"""Conversation lifecycle: every ownership change is one function here, done by compare-and-set
on the conversation's version so two agents or two hub replicas can never both win.

The reads are in ``handoff.finders``, the messages and notes in ``handoff.messages``, the errors in
``handoff.errors``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import appended, queue_event
from core.models import aware
from handoff.errors import AlreadyClaimed, CannotReceiveTransfer, InvalidTransition, NotYourConversation
from handoff.events import OwnerChanged, about
from handoff.finders import get_conversation, routing_team, unanswered_claims
from handoff.messages import record_message
from handoff.models import Conversation, OwnershipEvent, Priority, Role, State, Team, TeamMember, User, utcnow

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
    from_state, from_team, from_agent = conversation.state, conversation.team_id, conversation.agent_id
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
            previous_agent_id=from_agent,
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
    """Hand the conversation from the bot to the team's queue (the team an archived one's chats
    go to: ``routing_team``). From then on Rasa is not asked."""
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.BOT, State.CLOSING),
        to=State.QUEUED,
        actor=actor,
        reason=reason,
        team_id=await routing_team(session, team_id),
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
    if team_id and (team := await session.get(Team, team_id)) is not None and team.archived_at is not None:
        raise InvalidTransition(f"the team {team.name} is archived: choose an active team")
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
    """Put the conversation back in its team's queue (keeping its place by priority, not its age;
    an archived team's chat goes to the team that took its queue)."""
    conversation = await get_conversation(session, conversation_id)
    if conversation.agent_id != by.id and by.role not in ("supervisor", "admin"):
        raise NotYourConversation()
    team_id = await routing_team(session, conversation.team_id) if conversation.team_id else None
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.HUMAN,),
        to=State.QUEUED,
        actor=f"agent:{by.id}",
        reason="unassigned",
        agent_id=None,
        team_id=team_id,
    )


async def return_unanswered_claim(session: AsyncSession, conversation_id: str, *, now: datetime | None = None) -> Conversation:
    """A chat its agent has not answered within the team's ``claim_answer_seconds`` goes back to
    the head of its team's queue (reason ``claim_unanswered``, actor ``system``). Raises
    ``InvalidTransition`` when it no longer qualifies: answered, closed, transferred, or already
    returned by another hub (compare-and-set: one wins)."""
    now = now or utcnow()
    # Locked before the check so a reply being stored (``agent_reply`` locks it too) is either
    # seen here or refused after, never lost in a chat that has left its agent.
    conversation = await get_conversation(session, conversation_id, for_update=True)
    if conversation_id not in await unanswered_claims(session, now=now, conversation_id=conversation_id):
        raise InvalidTransition("the conversation was answered, or is no longer held by an agent")
    team_id = await routing_team(session, conversation.team_id) if conversation.team_id else None
    head = await session.execute(
        select(func.max(Conversation.priority), func.min(Conversation.queued_at)).where(
            Conversation.state == State.QUEUED, Conversation.team_id == team_id
        )
    )
    top_priority, first_queued = head.one()
    # At the head: served before every waiting chat, yet never made to look older than its real wait.
    queued_at = aware(conversation.queued_at) or now
    if first_queued is not None:
        queued_at = min(queued_at, aware(first_queued) - timedelta(milliseconds=1))
    return await _transition(
        session,
        conversation_id,
        allowed_from=(State.HUMAN,),
        to=State.QUEUED,
        actor="system",
        reason="claim_unanswered",
        agent_id=None,
        team_id=team_id,
        priority=max(conversation.priority, top_priority or 0),
        queued_at=queued_at,
    )


async def requeue_agent_chats(session: AsyncSession, agent_id: int, *, by: User) -> list[str]:
    """Put every chat the agent holds back in its team's queue (they were deactivated); returns the
    chats' ids. Each is one ``unassign_conversation`` by ``by`` (an admin)."""
    held = select(Conversation.id).where(Conversation.state == State.HUMAN, Conversation.agent_id == agent_id)
    ids = list((await session.execute(held.order_by(Conversation.id))).scalars())
    for conversation_id in ids:
        await unassign_conversation(session, conversation_id, by)
    return ids


async def move_queued(session: AsyncSession, from_team: str, to_team: str, *, by: User) -> list[str]:
    """Move every chat waiting in ``from_team``'s queue to ``to_team``'s, keeping how long it has
    waited and its priority (the team is being archived); returns the chats' ids."""
    waiting = select(Conversation.id).where(Conversation.state == State.QUEUED, Conversation.team_id == from_team)
    ids = list((await session.execute(waiting.order_by(Conversation.id))).scalars())
    for conversation_id in ids:
        await _transition(
            session,
            conversation_id,
            allowed_from=(State.QUEUED,),
            to=State.QUEUED,
            actor=f"agent:{by.id}",
            reason="team_archived",
            team_id=to_team,
        )
    return ids


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
