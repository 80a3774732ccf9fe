"""A detractor's answer opens a follow-up that exactly one agent takes and closes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
import insights
from handoff import Priority


async def surveyed_conversation(
    session: AsyncSession, agent: handoff.User, score: int, reason: str | None = None
) -> insights.Survey:
    """A customer asks for a person, the agent takes and closes the chat, the customer answers the survey."""
    conversation = await handoff.start_conversation(session, channel="widget", customer_id="c-1", language="pt-BR")
    await handoff.escalate_conversation(
        session, conversation.id, team_id="financeiro", priority=Priority.REQUEST, reason="customer_request"
    )
    await handoff.claim_conversation(session, conversation.id, agent)
    await handoff.close_conversation(session, conversation.id, agent)
    await insights.open_survey(
        session,
        conversation.id,
        channel="widget",
        language="pt-BR",
        ending="agent_closed",
        team_id="financeiro",
        agent_id=agent.id,
    )
    await insights.answer_survey(session, conversation.id, score)
    if reason:
        return await insights.record_reason(session, conversation.id, reason)
    return await insights.get_survey(session, conversation.id)


async def test_only_detractors_open_a_follow_up_and_one_agent_takes_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        bruno = await handoff.add_user(session, email="bruno@x.test", name="Bruno", password="password-1", teams=["financeiro"])
        carla = await handoff.add_user(session, email="carla@x.test", name="Carla", password="password-1", teams=["financeiro"])
        dani = await handoff.add_user(session, email="dani@x.test", name="Dani", password="password-1", teams=["geral"])
        unhappy = await surveyed_conversation(session, bruno, 2, "cobraram duas vezes")
        happy = await surveyed_conversation(session, bruno, 9)
        passive = await surveyed_conversation(session, bruno, 7)
        task = await insights.open_follow_up(session, unhappy)
        assert await insights.open_follow_up(session, happy) is None
        assert await insights.open_follow_up(session, passive) is None
        assert await insights.open_follow_up(session, unhappy) is None  # never two for one conversation
    assert (task.score, task.reason, task.team_id) == (2, "cobraram duas vezes", "financeiro")

    async with sessions() as session:
        assert [t.id for t in await insights.list_follow_ups(session, ["financeiro"])] == [task.id]
        assert await insights.list_follow_ups(session, ["geral"]) == []

    async def claim(agent_id: int) -> str:
        try:
            async with sessions() as session, session.begin():
                await insights.claim_follow_up(session, task.id, agent_id)
            return "won"
        except insights.FollowUpAlreadyClaimed:
            return "lost"

    assert sorted(await asyncio.gather(claim(bruno.id), claim(carla.id))) == ["lost", "won"]
    async with sessions() as session, session.begin():
        claimed = await insights.get_follow_up(session, task.id)
        loser = carla.id if claimed.claimed_by == bruno.id else bruno.id
        with pytest.raises(insights.NotYourFollowUp):
            await insights.complete_follow_up(session, task.id, loser, "liguei")
        done = await insights.complete_follow_up(session, task.id, claimed.claimed_by, "Liguei, estornamos a cobrança dupla.")
    assert done.done_at is not None and done.outcome == "Liguei, estornamos a cobrança dupla."
    async with sessions() as session:
        assert await insights.list_follow_ups(session, None) == []
        with pytest.raises(insights.FollowUpNotFound):
            await insights.claim_follow_up(session, 9999, dani.id)


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server that records the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


async def test_the_alert_webhook_gets_the_score_and_reason_and_a_refusal_is_an_error(
    webhook_receiver: tuple[str, list[dict]],
) -> None:
    url, received = webhook_receiver
    alert = insights.DetractorAlert(
        conversation_id="c1", channel="telegram", customer_id="42", team_id="geral", score=1, reason="ninguém respondeu"
    )
    await insights.post_webhook(f"{url}/ok", alert)
    assert received[0]["type"] == "detractor" and (received[0]["score"], received[0]["reason"]) == (1, "ninguém respondeu")
    with pytest.raises(insights.WebhookFailed, match="500"):
        await insights.post_webhook(f"{url}/broken", alert)
    with pytest.raises(insights.WebhookFailed):
        await insights.post_webhook("http://127.0.0.1:1/nothing-listens", alert, timeout_s=2)
