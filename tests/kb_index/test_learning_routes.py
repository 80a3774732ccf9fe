"""Learning from use over HTTP, on a running hub: what customers confirmed, chose among the options,
or asked before an agent's reply that became an article reaches the editors as candidate
questions; an approved one is answered by the bot at once; agents, strangers and stale pages are
refused clearly."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import handoff
from hub.operations import add_user
from tests.kb_index.learning_chats import chosen_chat, confirmed_chat
from tests.support import RunningHub, hub_settings, start_hub

EDITOR = ("edu@loja.test", "edu-password-1", "editor")
AGENT = ("ana@loja.test", "ana-password-1", "agent")
# Worded as no article of the starter base is: before an editor approves it, the bot cannot answer it.
ODD = "o dinheiro do qr code sumiu?"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub of this module's own, lexical search only (quick to start), an editor and an agent."""
    running = start_hub(
        hub_settings(
            tmp_path_factory.mktemp("learning"), cache_dir=index_cache, encoder="bm25", rasa_attempts=1, rasa_timeout_s=0.5
        )
    )
    for email, password, role in (EDITOR, AGENT):
        asyncio.run(
            add_user(
                running.settings, email=email, name=email.split("@")[0].title(), role=role, teams=["geral"], password=password
            )
        )
    yield running
    running.stop()


async def _client(hub: RunningHub, account: tuple[str, str, str]) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=hub.url, timeout=30)
    r = await client.post("/api/auth/login", json={"email": account[0], "password": account[1]})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


@pytest.fixture
async def edu(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    client = await _client(hub, EDITOR)
    yield client
    await client.aclose()


@pytest.fixture
async def ana(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    client = await _client(hub, AGENT)
    yield client
    await client.aclose()


async def _pending(edu: httpx.AsyncClient) -> dict[str, dict]:
    r = await edu.get("/api/kb/candidates")
    assert r.status_code == 200
    return {c["text"]: c for c in r.json()}


async def test_a_chosen_option_approved_is_answered_at_once(
    hub: RunningHub, edu: httpx.AsyncClient, ana: httpx.AsyncClient
) -> None:
    before = (await edu.get("/api/kb/try", params={"q": ODD, "lang": "pt-BR"})).json()
    assert before["decision"] != "answer"

    chosen_chat(hub, ODD, ["pagamento-pix", "prazo-de-estorno"], "pagamento-pix")
    confirmed_chat(hub, "meu boleto venceu, e agora?", "pagamento-boleto")
    pending = await _pending(edu)
    assert (pending[ODD]["article_id"], pending[ODD]["source"], pending[ODD]["article_title"]) == (
        "pagamento-pix", "chosen", "Como pagar com Pix e ganhar desconto?",
    )  # fmt: skip
    assert (pending["meu boleto venceu, e agora?"]["source"], pending["meu boleto venceu, e agora?"]["article_id"]) == (
        "confirmed", "pagamento-boleto",
    )  # fmt: skip

    # Only editors decide; a request without the session's CSRF token changes nothing.
    candidate = pending[ODD]["id"]
    assert (await ana.post(f"/api/kb/candidates/{candidate}/approve")).status_code == 403
    assert (await ana.get("/api/kb/candidates")).status_code == 403
    stranger = httpx.AsyncClient(base_url=hub.url)
    assert (await stranger.post(f"/api/kb/candidates/{candidate}/approve")).status_code in (401, 403)
    await stranger.aclose()
    no_token = await edu.post(f"/api/kb/candidates/{candidate}/approve", headers={"X-CSRF-Token": "wrong"})
    assert no_token.status_code == 403

    approved = await edu.post(f"/api/kb/candidates/{candidate}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and ODD in approved.json()["questions"]
    # Answered as soon as the approval returns: no restart, no wait.
    after = (await edu.get("/api/kb/try", params={"q": ODD, "lang": "pt-BR"})).json()
    assert (after["decision"], after["hits"][0]["id"]) == ("answer", "pagamento-pix")
    versions = (await edu.get("/api/kb/articles/pagamento-pix/pt-BR/versions")).json()
    assert versions[0]["author"] == "Edu"

    # A second decision is refused, naming who decided; an unknown or malformed id too.
    again = await edu.post(f"/api/kb/candidates/{candidate}/reject")
    assert (again.status_code, again.json()["detail"]) == (
        409, "this question was approved by Edu already; reload the list to see what is left",
    )  # fmt: skip
    assert (await edu.post("/api/kb/candidates/99999999/approve")).status_code == 404
    assert (await edu.post("/api/kb/candidates/nope/approve")).status_code == 422
    assert (await edu.post("/api/kb/candidates/99999999999999999999/approve")).status_code == 422

    # Rejected, it leaves the list; the same question confirmed again is not proposed again.
    boleto = pending["meu boleto venceu, e agora?"]["id"]
    assert (await edu.post(f"/api/kb/candidates/{boleto}/reject")).json()["state"] == "rejected"
    confirmed_chat(hub, "meu boleto venceu, e agora?", "pagamento-boleto")
    assert "meu boleto venceu, e agora?" not in await _pending(edu)


async def test_the_questions_before_a_promoted_reply_are_candidates_of_the_new_article(
    hub: RunningHub, edu: httpx.AsyncClient, ana: httpx.AsyncClient
) -> None:
    async def chat() -> tuple[str, int]:
        async with hub.app.state.desk.unit_of_work() as session:
            c = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language="pt-BR")
            await handoff.escalate_conversation(
                session, c.id, team_id="geral", priority=handoff.Priority.REQUEST, reason="customer_request"
            )
            for text in ("vocês recolhem celular velho?", "onde descarto meu celular velho?"):
                await handoff.record_message(session, c, sender="customer", text=text)
            reply = await handoff.record_message(
                session, c, sender="agent", text="Leve-o a qualquer loja: o descarte é gratuito."
            )
            return c.id, reply.id

    conversation_id, reply_id = hub.call(chat)
    made = await ana.post("/api/kb/suggestions/from-message", json={"conversation_id": conversation_id, "message_id": reply_id})
    assert made.status_code == 201, made.text
    draft = made.json()
    pending = await _pending(edu)
    # The question the draft is titled after is already its question; the other way it was asked waits for an editor.
    assert (pending["vocês recolhem celular velho?"]["article_id"], pending["vocês recolhem celular velho?"]["source"]) == (
        draft["id"], "promoted",
    )  # fmt: skip
    assert "onde descarto meu celular velho?" not in pending
    # Its article deleted, the candidate cannot be approved (and says so); it can still be rejected.
    candidate = pending["vocês recolhem celular velho?"]["id"]
    assert (await edu.delete(f"/api/kb/articles/{draft['id']}/pt-BR")).status_code == 204
    gone = await edu.post(f"/api/kb/candidates/{candidate}/approve")
    assert gone.status_code == 404


async def test_the_page_lists_and_decides_in_the_editors_language(
    hub: RunningHub, edu: httpx.AsyncClient, ana: httpx.AsyncClient
) -> None:
    confirmed_chat(hub, "<b>quanto</b> tempo leva a entrega?", "prazo-de-entrega")
    page = await edu.get("/kb/questions", params={"lang": "en"})
    assert page.status_code == 200
    assert "Questions to learn" in page.text and "the customer confirmed the answer" in page.text
    assert "&lt;b&gt;quanto&lt;/b&gt; tempo leva a entrega?" in page.text  # the customer's text, escaped
    assert (await ana.get("/kb/questions")).status_code == 403
    candidate = (await _pending(edu))["<b>quanto</b> tempo leva a entrega?"]["id"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    forged = await edu.post(f"/kb/questions/{candidate}/approve", data={"csrf_token": "forged", "lang": "en"})
    assert forged.status_code == 403
    done = await edu.post(f"/kb/questions/{candidate}/approve", data={"csrf_token": token.group(1), "lang": "pt-PT"})
    assert (done.status_code, done.headers["location"]) == (303, "/kb/questions?lang=pt-PT&done=approved")
    shown = await edu.get(done.headers["location"])
    assert "Aprovada: passa a ser uma pergunta alternativa do artigo." in shown.text
    again = await edu.post(f"/kb/questions/{candidate}/reject", data={"csrf_token": token.group(1), "lang": "pt-BR"})
    assert (await edu.get(again.headers["location"])).text.count("Outra pessoa já decidiu essa pergunta.") == 1
    # The message shown comes from the page's own words only.
    assert "hacked" not in (await edu.get("/kb/questions", params={"error": "hacked"})).text
