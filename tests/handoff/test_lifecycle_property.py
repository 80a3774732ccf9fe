"""Any sequence of lifecycle operations leaves exactly one owner and loses no message."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

import handoff
from handoff import Priority, Role, State
from handoff.models import Base, OwnershipEvent

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "customer_writes",
                "escalate",
                "claim",
                "reply",
                "note",
                "close",
                "transfer_team",
                "transfer_agent",
                "unassign",
                "abandon",
                "end",
            ]
        ),
        st.integers(min_value=0, max_value=2),  # which agent acts
    ),
    max_size=25,
)


async def run(operations: list[tuple[str, int]]) -> None:
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    from hub.db import make_sessionmaker
    from insights.models import Base as InsightsBase
    from insights.summaries import note_appended

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(InsightsBase.metadata.create_all)  # the hub's sessions keep the KPI summaries

    sessions = make_sessionmaker(engine, listeners=[note_appended])
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        agents = [
            await handoff.add_user(
                session, email=f"a{n}@x.test", name=f"A{n}", password="password-123", role=Role.AGENT, teams=["geral"]
            )
            for n in range(3)
        ]
        conversation = await handoff.start_conversation(session, channel="widget", customer_id="w-1", language="pt-BR")
    stored = 0
    for op, who in operations:
        agent = agents[who]
        try:
            async with sessions() as session, session.begin():
                c = await handoff.get_conversation(session, conversation.id)
                if op == "customer_writes":
                    if c.state in (State.ENDED.value, State.ABANDONED.value):
                        continue
                    await handoff.record_message(session, c, sender="customer", text="oi")
                    stored += 1
                elif op == "escalate":
                    await handoff.escalate_conversation(
                        session, c.id, team_id="geral", priority=Priority.REQUEST, reason="customer_request"
                    )
                elif op == "claim":
                    await handoff.claim_conversation(session, c.id, agent)
                elif op == "reply":
                    await handoff.agent_reply(session, c.id, agent, "resposta")
                    stored += 1
                elif op == "note":
                    await handoff.add_note(session, c.id, agent, "nota")
                    stored += 1
                elif op == "close":
                    await handoff.close_conversation(session, c.id, agent)
                elif op == "transfer_team":
                    await handoff.transfer_conversation(session, c.id, agent, team_id="financeiro")
                elif op == "transfer_agent":
                    await handoff.transfer_conversation(session, c.id, agent, to_agent=agents[(who + 1) % 3])
                elif op == "unassign":
                    await handoff.unassign_conversation(session, c.id, agent)
                elif op == "abandon":
                    await handoff.abandon_conversation(session, c.id, reason="left")
                elif op == "end":
                    await handoff.end_conversation(session, c.id, actor="bot", reason="goodbye")
        except handoff.HandoffError:
            pass  # refused: the state must be unchanged, which the invariants below check

        async with sessions() as session:
            c = await handoff.get_conversation(session, conversation.id)
            # One owner at a time: a person exactly when the state is human. A chat an agent closed
            # keeps them as its last agent (closing, then ended) without them owning it.
            if c.state not in (State.CLOSING.value, State.ENDED.value):
                assert (c.state == State.HUMAN.value) == (c.agent_id is not None)
            # The ownership history is one unbroken chain ending in the current state.
            events = (await session.execute(select(OwnershipEvent).order_by(OwnershipEvent.id))).scalars().all()
            chain = [State.BOT.value] + [e.to_state for e in events]
            assert all(e.from_state == chain[i] for i, e in enumerate(events))
            assert chain[-1] == c.state
            # Nothing written is lost.
            assert len(await handoff.conversation_history(session, c.id)) == stored
    await engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_no_sequence_of_events_leaves_two_owners_or_loses_a_message(operations: list[tuple[str, int]]) -> None:
    asyncio.run(run(operations))
