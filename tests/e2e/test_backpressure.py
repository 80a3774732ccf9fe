"""Backpressure with a real Rasa made slow: a proxy in front of it holds every answer (a saturated
Rasa, as the hub sees one). While a customer's turns wait, in order, the customer sees the bot
typing (the widget's typing frame, Telegram's sendChatAction); past ``bot_wait_s`` they are told
politely and the chat goes to a person's queue, their message kept for the agent."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import handoff
from handoff.models import OwnershipEvent
from hub.operations import add_user
from tests.channel_fakes import FakeServer, FakeTelegram, FakeTwilio, TelegramCustomer, wait_for
from tests.conftest import TELEGRAM_SECRET, channel_settings
from tests.support import AgentClient, RunningHub, WidgetCustomer, bot_texts, free_port, hub_settings, start_hub, start_rasa

AGENT = ("rui@loja.test", "rui-password-1")
BUSY = "Desculpe a demora: estamos com muita procura agora. Vou te passar para uma pessoa, que já vê sua mensagem."


class SlowUpstream(FakeServer):
    """A reverse proxy in front of the real Rasa that holds each of its answers ``delay_s`` (Rasa
    has done the work; the hub hears of it late, as from a saturated server)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.delay_s = 0.0
        self.hold_s = 0.0  # before passing a request on: Rasa gets the message late
        methods = ["GET", "POST", "PUT", "DELETE"]
        super().__init__([Route("/{path:path}", self._forward, methods=methods)])

    async def _forward(self, request: Request) -> Response:
        delay_s = self.delay_s
        if request.url.path.startswith("/webhooks/"):
            await asyncio.sleep(self.hold_s)
        async with httpx.AsyncClient(timeout=300, trust_env=False) as client:
            answer = await client.request(
                request.method,
                f"{self.upstream}{request.url.path}",
                params=request.query_params,
                content=await request.body(),
                headers={"content-type": request.headers.get("content-type", "application/json")},
            )
        await asyncio.sleep(delay_s)
        return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))


@pytest.fixture(scope="module")
def slow_desk(
    tmp_path_factory: pytest.TempPathFactory,
    index_cache: Path,
    rasa_model: Path,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
) -> Iterator[tuple[RunningHub, SlowUpstream]]:
    """A hub whose Rasa (real, its own) answers through ``SlowUpstream``."""
    tmp = tmp_path_factory.mktemp("backpressure")
    token = secrets.token_hex(16)
    rasa_port = free_port()
    proxy = SlowUpstream(f"http://127.0.0.1:{rasa_port}").start()
    settings = hub_settings(
        tmp, cache_dir=index_cache, rasa_url=proxy.url, rasa_token=token, **channel_settings(fake_telegram, fake_twilio)
    )
    hub = start_hub(settings)
    asyncio.run(add_user(settings, email=AGENT[0], name="Rui", role="agent", teams=["geral"], password=AGENT[1]))
    rasa = start_rasa(
        rasa_model,
        actions_url=f"{hub.url}/actions/webhook",
        token=token,
        actions_token=settings.actions_token,
        tmp=tmp,
        port=rasa_port,
    )
    # One turn before the stories: a cold Rasa's first turn loads its policies.
    httpx.post(f"{rasa.url}/webhooks/rest/webhook", json={"sender": f"warm-{uuid.uuid4().hex}", "message": "oi"}, timeout=300)
    try:
        yield hub, proxy
    finally:
        rasa.stop()
        hub.stop()
        proxy.stop()


def conversation_of(hub: RunningHub, channel: str, customer_id: str) -> tuple[str, str | None, list[str], str]:
    """The customer's latest conversation: its state, why it was queued, who wrote each message, its id."""

    async def read() -> tuple[str, str | None, list[str], str]:
        async with hub.app.state.desk.sessions() as session:
            c = await handoff.latest_conversation(session, channel=channel, customer_id=customer_id)
            messages = await handoff.conversation_history(session, c.id)
            return c.state, c.escalation_reason, [m.sender for m in messages], c.id

    return hub.call(read)


async def test_a_slow_bot_answers_each_turn_in_order_while_the_customer_sees_typing(
    slow_desk: tuple[RunningHub, SlowUpstream],
) -> None:
    hub, proxy = slow_desk
    hub.settings.bot_wait_s = 60.0
    proxy.delay_s = 2.0
    ana = await WidgetCustomer(hub.url).connect()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    # Two questions at once: the second waits for the first's answer (one turn at a time).
    await ana.ws.send(json.dumps({"type": "message", "text": "qual o prazo de entrega?", "id": first}))
    await ana.ws.send(json.dumps({"type": "message", "text": "como rastrear meu pedido?", "id": second}))
    frames = []
    while not any(f.get("type") == "ack" and f.get("id") == second for f in frames):
        frames.append(await ana._recv(90))
    kinds = [f["type"] if f["type"] != "message" else f["sender"] for f in frames]
    acks = [f.get("id") for f in frames if f["type"] == "ack"]
    assert acks == [first, second], kinds
    first_ack, second_ack = kinds.index("ack"), len(kinds) - 1
    assert "typing" in kinds[: kinds.index("bot")], kinds  # the customer saw the bot typing before its answer
    assert "bot" in kinds[:first_ack] and "bot" in kinds[first_ack:second_ack], kinds  # each turn answered, in order
    assert not any(f["type"] == "state" for f in frames)  # still the bot's conversation
    state, _, senders, _ = conversation_of(hub, "widget", ana.customer_id)
    assert state == "bot" and senders.count("customer") == 2
    await ana.close()


async def test_past_the_bounded_wait_the_customer_is_told_and_queued(slow_desk: tuple[RunningHub, SlowUpstream]) -> None:
    hub, proxy = slow_desk
    hub.settings.bot_wait_s = 3.0
    proxy.delay_s = 10.0
    bia = await WidgetCustomer(hub.url).connect()
    turn = await bia.say("o frete é grátis?", timeout_s=60)
    assert any(f["type"] == "typing" for f in turn)
    assert bot_texts(turn)[0] == BUSY
    assert any(f.get("state") == "queued" for f in turn)
    state, reason, senders, chat = conversation_of(hub, "widget", bia.customer_id)
    assert (state, reason) == ("queued", "bot_busy")
    assert senders[0] == "customer"  # the question is kept for the agent who takes the chat
    # An agent takes the chat and closes it while Rasa is still that slow: the ending is not waited
    # for past the bound, nor run twice, and the agent's close succeeds.
    agent = await AgentClient(hub.url, *AGENT).login()
    assert (await agent.claim(chat)).status_code == 200
    r = await agent.http.post(f"/api/agent/conversations/{chat}/close", json={"reason": "resolved"})
    assert r.status_code == 200, r.text
    await wait_for(lambda: conversation_of(hub, "widget", bia.customer_id)[0] == "ended", "the chat ended", 60)
    await agent.aclose()
    await bia.close()


async def test_a_hand_over_rasa_runs_after_the_wait_ended_finds_the_chat_queued_and_changes_nothing(
    slow_desk: tuple[RunningHub, SlowUpstream],
) -> None:
    hub, proxy = slow_desk
    hub.settings.bot_wait_s = 3.0
    proxy.delay_s, proxy.hold_s = 0.0, 8.0  # Rasa hears the customer only after the hub stopped waiting
    caio = await WidgetCustomer(hub.url).connect()
    try:
        turn = await caio.say("quero falar com um atendente", timeout_s=60)
    finally:
        proxy.hold_s = 0.0
    assert bot_texts(turn)[0] == BUSY  # the hub stopped waiting and queued the chat itself
    state, reason, _, chat = conversation_of(hub, "widget", caio.customer_id)
    assert (state, reason) == ("queued", "bot_busy")
    # Rasa, still behind on that turn, then runs its hand-over: it calls the hub's action server so.
    call = {
        "next_action": "action_request_human",
        "sender_id": chat,
        "tracker": {"sender_id": chat, "slots": {"language": "pt-BR"}, "latest_message": {}, "events": []},
        "domain": {},
    }
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        r = await http.post(f"{hub.url}/actions/webhook", params={"token": hub.settings.actions_token}, json=call)
    assert r.status_code == 200, r.text  # answered (Rasa finishes its turn), not a server error
    assert [m.get("response") for m in r.json()["responses"]] == ["utter_handoff"]

    async def queued_events() -> list[str]:
        async with hub.app.state.desk.sessions() as session:
            events = await session.scalars(select(OwnershipEvent).where(OwnershipEvent.conversation_id == chat))
            return [e.reason for e in events if e.to_state == "queued"]

    assert hub.call(queued_events) == ["bot_busy"]  # queued once, as the hub did it
    await caio.close()


async def test_a_telegram_customer_waiting_for_a_slow_bot_sees_it_typing(
    slow_desk: tuple[RunningHub, SlowUpstream], fake_telegram: FakeTelegram
) -> None:
    hub, proxy = slow_desk
    hub.settings.bot_wait_s = 60.0
    proxy.delay_s = 3.0
    caio = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    received = await caio.say("qual a garantia dos produtos?")
    await wait_for(lambda: received or fake_telegram.messages_to(caio.user_id), "the bot's answer", 60)
    typing = [p for m, p in fake_telegram.calls if m == "sendChatAction" and int(p["chat_id"]) == caio.user_id]
    assert typing and all(p["action"] == "typing" for p in typing)
    state, _, _, _ = conversation_of(hub, "telegram", caio.customer_id)
    assert state == "bot"
