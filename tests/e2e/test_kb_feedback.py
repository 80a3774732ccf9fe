"""What customers asked that nothing answered reaches the editors, grouped; an agent's good reply
becomes a draft article in one click. Through the real Rasa server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import AgentClient, RunningHub, WidgetCustomer

pytestmark = pytest.mark.rasa
EDITOR = ("elis@loja.test", "elis-password-1")


@pytest.fixture(scope="module")
def editor_account(hub: RunningHub) -> tuple[str, str]:
    from hub.operations import add_user

    asyncio.run(add_user(hub.settings, email=EDITOR[0], name="Elis", role="editor", teams=[], password=EDITOR[1]))
    return EDITOR


@pytest.fixture
async def editor(hub: RunningHub, editor_account: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(base_url=hub.url, timeout=30)
    r = await client.post("/api/auth/login", json={"email": editor_account[0], "password": editor_account[1]})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    yield client
    await client.aclose()


async def test_unanswered_questions_are_grouped_for_editors_and_an_agent_reply_becomes_a_draft(
    hub: RunningHub, agent: AgentClient, editor: httpx.AsyncClient
) -> None:
    # Two customers ask about recycling, which no article covers; the first is handed to a person
    # after the second miss.
    caio = await WidgetCustomer(hub.url).connect()
    await caio.say("vocês recolhem celular velho para reciclagem?")
    await caio.say("onde descarto meu celular velho?")
    lia = await WidgetCustomer(hub.url).connect()
    await lia.say("vocês recolhem celular velho pra reciclar?")

    clusters = (await editor.get("/api/kb/unanswered/clusters")).json()
    recycling = next(c for c in clusters if "onde descarto meu celular velho?" in c["questions"])
    assert set(recycling["questions"]) == {
        "vocês recolhem celular velho para reciclagem?",
        "onde descarto meu celular velho?",
        "vocês recolhem celular velho pra reciclar?",
    }
    assert (recycling["customers"], recycling["count"], recycling["lang"]) == (2, 3, "pt-BR")

    # Ana takes Caio's chat and answers him well; one click makes her reply a draft article.
    conversation_id = next(c["id"] for c in await agent.queue() if c["customer_id"] == caio.customer_id)
    assert (await agent.claim(conversation_id)).status_code == 200
    reply = await agent.reply(conversation_id, "Sim! Leve o aparelho a qualquer loja: o descarte é gratuito e seguro.")
    assert reply.status_code == 201
    messages = (await agent.detail(conversation_id))["messages"]
    reply_id = next(m["id"] for m in messages if m["sender"] == "agent")
    made = await agent.http.post(
        "/api/kb/suggestions/from-message", json={"conversation_id": conversation_id, "message_id": reply_id}
    )
    assert made.status_code == 201, made.text
    draft = made.json()
    assert (draft["status"], draft["suggested_by"], draft["lang"]) == ("draft", "Ana", "pt-BR")
    assert draft["title"] == "onde descarto meu celular velho?"
    assert draft["questions"] == ["onde descarto meu celular velho?"]
    assert draft["body"] == "Sim! Leve o aparelho a qualquer loja: o descarte é gratuito e seguro."

    # The editor finds it among the suggestions; a customer's message is not a reply to promote.
    suggestions = (await editor.get("/api/kb/articles", params={"suggested": "true"})).json()
    assert draft["id"] in {a["id"] for a in suggestions}
    customer_message = next(m["id"] for m in messages if m["sender"] == "customer")
    refused = await agent.http.post(
        "/api/kb/suggestions/from-message", json={"conversation_id": conversation_id, "message_id": customer_message}
    )
    assert (refused.status_code, refused.json()["detail"]) == (422, "choose an agent's reply in this conversation")
    assert (await editor.delete(f"/api/kb/articles/{draft['id']}/pt-BR")).status_code == 204
    assert (await agent.close(conversation_id)).status_code == 200
    for who in (caio, lia):
        await who.close()
