"""Handoff as customers and agents live it: hours, queue place, notes, transfers, who sees what."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import handoff
from desk import Desk
from tests.support import AgentClient, RunningHub, WidgetCustomer, bot_texts, wait_for_status

pytestmark = pytest.mark.rasa


async def escalated(hub: RunningHub, text: str = "quero falar com um atendente") -> tuple[WidgetCustomer, str]:
    who = await WidgetCustomer(hub.url).connect()
    await who.say(text)

    async def conversation_id() -> str:
        async with hub.app.state.desk.sessions() as session:
            return (await handoff.latest_conversation(session, channel="widget", customer_id=who.customer_id)).id

    return who, hub.call(conversation_id)


def team_change(hub: RunningHub, **values: object) -> None:
    async def change() -> None:
        async with hub.app.state.desk.unit_of_work() as session:
            await handoff.update_team(session, "geral", **values)

    hub.call(change)


async def test_outside_business_hours_the_customer_is_told_when_a_person_answers(hub: RunningHub) -> None:
    team_change(hub, hours={}, holidays=[])  # closed every day...
    try:
        team_change(hub, hours={"sun": ["00:00", "00:01"]})  # ...but for one minute on Sundays
        who = await WidgetCustomer(hub.url).connect()
        turn = await who.say("quero falar com um atendente")
        told = bot_texts(turn)[-1]
        assert told.startswith("Nosso atendimento humano está fechado agora. Uma pessoa responde a partir de domingo")
        assert "às 00:00" in told
        await who.close()
    finally:
        team_change(hub, always_open=True)


async def test_the_queue_place_moves_up_when_the_chat_ahead_is_taken(hub: RunningHub, agent: AgentClient) -> None:
    for waiting in await agent.queue():  # start from an empty queue
        await agent.claim(waiting["id"])
        await agent.close(waiting["id"])
    first, first_id = await escalated(hub)
    second, _ = await escalated(hub)
    assert "Você é o 2º da fila" in bot_texts(second.frames)[-1]
    assert (await agent.claim(first_id)).status_code == 200
    moved = await second.wait_for(lambda f: f.get("type") == "queue")
    assert moved["position"] == 1
    await first.close()
    await second.close()


async def test_private_notes_never_reach_the_customer(hub: RunningHub, agent: AgentClient) -> None:
    who, conversation_id = await escalated(hub)
    await agent.claim(conversation_id)
    r = await agent.http.post(f"/api/agent/conversations/{conversation_id}/notes", json={"text": "cliente irritado, cuidado"})
    assert r.status_code == 201 and r.json()["internal"] is True
    await agent.reply(conversation_id, "Olá! Em que posso ajudar?")
    heard = await who.wait_for(lambda f: f.get("type") == "message")
    assert heard["text"] == "Olá! Em que posso ajudar?"
    assert not any("irritado" in (f.get("text") or "") for f in who.frames)
    await who.close()
    again = await WidgetCustomer(hub.url, token=who.token).connect()
    assert not any("irritado" in m["text"] for m in again.history["messages"])
    detail = await agent.detail(conversation_id)
    assert [m["text"] for m in detail["messages"] if m["internal"]] == ["cliente irritado, cuidado"]
    await again.close()


async def test_an_agent_cannot_read_or_take_another_teams_chat(
    hub: RunningHub, agent: AgentClient, billing_agent: AgentClient
) -> None:
    who, conversation_id = await escalated(hub)  # queued for geral: Bruno is in financeiro
    assert (await billing_agent.http.get(f"/api/agent/conversations/{conversation_id}")).status_code == 403
    assert (await billing_agent.claim(conversation_id)).status_code == 403
    assert conversation_id not in [c["id"] for c in await billing_agent.queue()]
    # Ana transfers it to billing with a note: now it is Bruno's to take.
    await agent.claim(conversation_id)
    r = await agent.http.post(
        f"/api/agent/conversations/{conversation_id}/transfer", json={"team_id": "financeiro", "note": "dúvida de estorno"}
    )
    assert r.status_code == 200 and r.json()["team_id"] == "financeiro"
    assert conversation_id in [c["id"] for c in await billing_agent.queue()]
    assert (await billing_agent.claim(conversation_id)).status_code == 200
    await who.close()


async def test_staff_pages_and_changes_need_a_login_and_the_csrf_token(hub: RunningHub, agent: AgentClient) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (await anonymous.get("/api/agent/queue")).status_code == 401
        assert (await anonymous.get("/console", follow_redirects=False)).headers["location"].startswith("/login")
    who, conversation_id = await escalated(hub)
    token = agent.http.headers.pop("X-CSRF-Token")
    try:
        assert (await agent.claim(conversation_id)).status_code == 403
    finally:
        agent.http.headers["X-CSRF-Token"] = token
    assert (await agent.http.get("/api/agent/overview")).status_code == 403  # supervisors only
    await who.close()


async def test_a_customer_who_leaves_the_queue_is_counted_as_abandoned(hub: RunningHub) -> None:
    who, conversation_id = await escalated(hub)
    await who.close()
    await asyncio.sleep(0.2)
    desk: Desk = hub.app.state.desk
    original = desk.settings.abandon_after_disconnect_seconds
    desk.settings.abandon_after_disconnect_seconds = 0
    try:
        hub.call(desk.abandon_departed)
    finally:
        desk.settings.abandon_after_disconnect_seconds = original

    async def state() -> str:
        async with desk.sessions() as session:
            return (await handoff.get_conversation(session, conversation_id)).state

    assert hub.call(state) == "abandoned"


async def test_presence_and_typing_travel_between_the_console_and_the_widget(hub: RunningHub, agent: AgentClient) -> None:
    import json

    import websockets

    who, conversation_id = await escalated(hub)
    await agent.claim(conversation_id)
    await who.wait_for(lambda f: f.get("type") == "state" and f.get("state") == "human")
    cookie = "; ".join(f"{k}={v}" for k, v in agent.http.cookies.items())
    desk: Desk = hub.app.state.desk
    original = desk.settings.presence_grace_seconds
    desk.settings.presence_grace_seconds = 0.2
    try:
        async with websockets.connect(
            hub.url.replace("http", "ws") + "/api/agent/ws", additional_headers={"Cookie": cookie}
        ) as console:
            me = (await agent.http.get("/api/me")).json()

            async def status() -> str:
                async with desk.sessions() as session:
                    return (await handoff.get_user(session, me["id"])).status

            assert hub.call(status) == "online"  # opening the console
            await console.send(json.dumps({"type": "typing", "conversation_id": conversation_id}))
            typing = await who.wait_for(lambda f: f.get("type") == "typing")
            assert typing["agent_name"] == "Ana"
            await who.ws.send(json.dumps({"type": "typing"}))
            seen = json.loads(await asyncio.wait_for(console.recv(), 10))
            while seen.get("type") != "typing":
                seen = json.loads(await asyncio.wait_for(console.recv(), 10))
            assert (seen["who"], seen["conversation_id"]) == ("customer", conversation_id)
        # The console closed: once the grace period has passed, the agent is away.
        await wait_for_status(lambda: hub.call(status), "away")
        async with websockets.connect(hub.url.replace("http", "ws") + "/api/agent/ws", additional_headers={"Cookie": cookie}):
            assert hub.call(status) == "online"  # back at the console: presence undoes its own "away"
            # An agent who chooses "away" stays away when the console opens again.
            assert (await agent.http.post("/api/agent/status", json={"status": "away"})).status_code == 200
        async with websockets.connect(hub.url.replace("http", "ws") + "/api/agent/ws", additional_headers={"Cookie": cookie}):
            assert hub.call(status) == "away"
            assert (await agent.http.post("/api/agent/status", json={"status": "online"})).status_code == 200
        # Closed again: presence makes her away; the next console (a later story) brings her back.
        await wait_for_status(lambda: hub.call(status), "away")
    finally:
        desk.settings.presence_grace_seconds = original
    await who.close()
