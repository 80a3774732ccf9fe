"""Who the conversation's customer is, through a real hub: the console's API shows the identity the
shop's site verified; an agent finds the same person's Telegram record and links it, after which
both conversations show each other's channel and history, and the admin's LGPD export by the
customer's e-mail holds every linked channel. Refused links change nothing and say why."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from connectors.identity import CustomerIdentity, sign_identity
from tests.channel_fakes import FakeTelegram, FakeTwilio, TelegramCustomer
from tests.conftest import TELEGRAM_SECRET, channel_settings
from tests.handoff.test_audit import logged_in
from tests.support import AgentClient, RunningHub, WidgetCustomer, queueing_hub

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
EDU = ("edu@loja.test", "edu-password-1", "editor", [])
ADA = ("ada@loja.test", "ada-password-1", "admin", [])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def links_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    index_cache: Path,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
) -> Iterator[RunningHub]:
    """A hub on SQLite, then PostgreSQL, whose Rasa never answers (a first message queues the chat
    for `geral`), with Telegram on its local fake; nothing here asks the knowledge base, so it is searched by words alone."""
    with queueing_hub(
        request.param,
        tmp_path_factory.mktemp(f"links-{request.param}"),
        cache_dir=index_cache,
        staff=(ANA, EDU, ADA),
        encoder="bm25",
        **channel_settings(fake_telegram, fake_twilio),
    ) as hub:
        yield hub


@pytest.fixture
async def ana(links_hub: RunningHub) -> AsyncIterator[AgentClient]:
    client = await logged_in(links_hub, ANA)
    yield client
    await client.aclose()


async def identified_chat(hub: RunningHub, who: CustomerIdentity, words: str) -> tuple[str, str]:
    """The shop's logged-in customer ``who`` writes in the widget: the conversation and customer ids."""
    async with httpx.AsyncClient() as client:
        fields = {"id": who.id, "name": who.name, "email": who.email, "phone": who.phone}
        r = await client.post(
            f"{hub.url}/widget/session",
            json={"identity": fields, "signature": sign_identity(hub.settings.identity_secret, who)},
        )
    customer = await WidgetCustomer(hub.url, token=r.json()["token"]).connect()
    await customer.say(words)
    await customer.close()
    return await conversation_of(hub, customer.customer_id), customer.customer_id


async def conversation_of(hub: RunningHub, customer_id: str) -> str:
    admin = await logged_in(hub, ADA)
    try:
        queue = (await admin.http.get("/api/agent/queue")).json()
    finally:
        await admin.aclose()
    return next(c["id"] for c in queue if c["customer_id"] == customer_id)


def someone() -> CustomerIdentity:
    tag = uuid.uuid4().hex[:6]
    return CustomerIdentity(id=f"c-{tag}", name=f"Joana {tag}", email=f"joana.{tag}@exemplo.com.br", phone="+55 11 98765-4321")


async def test_an_agent_links_the_telegram_chat_of_a_verified_widget_customer(
    links_hub: RunningHub, fake_telegram: FakeTelegram, ana: AgentClient
) -> None:
    who = someone()
    widget_chat, widget_id = await identified_chat(links_hub, who, "Quero trocar o tamanho do tênis")
    card = (await ana.http.get(f"/api/agent/conversations/{widget_chat}/customer")).json()
    assert card["records"][0] | {"verified_at": None} == {
        "channel": "widget",
        "customer_id": widget_id,
        "name": who.name,
        "username": None,
        "email": who.email,
        "phone": "+5511987654321",
        "shop_id": who.id,
        "verified_at": None,
        "address": None,
    }
    assert card["records"][0]["verified_at"]
    assert (await ana.detail(widget_chat))["conversation"]["customer_name"] == who.name  # the queue shows her name

    joana = TelegramCustomer(links_hub, fake_telegram, TELEGRAM_SECRET, first_name=who.name)
    await joana.say("Oi, mandei mensagem no site também")
    telegram_chat = await conversation_of(links_hub, joana.customer_id)

    found = (await ana.http.get("/api/agent/customers", params={"q": who.name})).json()
    assert {(r["channel"], r["customer_id"]) for r in found} == {("widget", widget_id), ("telegram", joana.customer_id)}
    r = await ana.http.post(
        f"/api/agent/conversations/{widget_chat}/customer/links", json={"channel": "telegram", "customer_id": joana.customer_id}
    )
    assert r.status_code == 200, r.text
    assert [rec["channel"] for rec in r.json()["records"]] == ["widget", "telegram"]
    assert {c["id"] for c in r.json()["conversations"]} == {widget_chat, telegram_chat}

    # From the Telegram chat: the verified identity of the shop's customer, and both conversations.
    other = (await ana.http.get(f"/api/agent/conversations/{telegram_chat}/customer")).json()
    assert [(rec["channel"], rec["shop_id"]) for rec in other["records"]] == [("telegram", None), ("widget", who.id)]
    assert {c["channel"] for c in other["conversations"]} == {"widget", "telegram"}

    again = await ana.http.post(
        f"/api/agent/conversations/{telegram_chat}/customer/links", json={"channel": "widget", "customer_id": widget_id}
    )
    assert again.status_code == 409 and "already linked" in again.json()["detail"]

    # LGPD: the export found by her e-mail holds both channels and both conversations.
    admin = await logged_in(links_hub, ADA)
    try:
        export = await admin.http.get("/api/admin/privacy/export", params={"customer": who.email})
        audit = (await admin.http.get("/api/admin/audit", params={"action": "customer_link"})).json()
    finally:
        await admin.aclose()
    assert export.status_code == 200, export.text
    document = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("customer.json"))
    assert {c["channel"] for c in document["customers"]} == {"widget", "telegram"}
    assert {c["id"] for c in document["conversations"]} == {widget_chat, telegram_chat}
    assert any(e["action"] == "customer_link" and e["actor"] == ANA[0] for e in audit["entries"])


async def test_refused_links_say_why_and_change_nothing(links_hub: RunningHub, ana: AgentClient) -> None:
    who = someone()
    chat, widget_id = await identified_chat(links_hub, who, "Onde está meu pedido?")
    links = f"/api/agent/conversations/{chat}/customer/links"

    same = await ana.http.post(links, json={"channel": "widget", "customer_id": widget_id})
    assert same.status_code == 409 and "same customer" in same.json()["detail"]
    unknown = await ana.http.post(links, json={"channel": "telegram", "customer_id": "tg-404404"})
    assert unknown.status_code == 404 and "search again" in unknown.json()["detail"]
    nowhere = await ana.http.post("/api/agent/conversations/nope/customer/links", json={"channel": "widget", "customer_id": "x"})
    assert nowhere.status_code == 404
    assert (await ana.http.get("/api/agent/customers", params={"q": "J"})).status_code == 422
    assert (await ana.http.get("/api/agent/customers", params={"q": "Jo\x00ana"})).status_code == 422
    control = await ana.http.post(links, json={"channel": "telegram", "customer_id": "tg-1\x00"})
    assert control.status_code == 422

    edu = await logged_in(links_hub, EDU)  # an editor writes articles: customers are not theirs
    try:
        other = await identified_chat(links_hub, someone(), "Oi")
        refused = await edu.http.post(links, json={"channel": "widget", "customer_id": other[1]})
        assert refused.status_code == 403
        assert (await edu.http.get("/api/agent/customers", params={"q": "Joana"})).status_code == 403
    finally:
        await edu.aclose()
    card = (await ana.http.get(f"/api/agent/conversations/{chat}/customer")).json()
    assert [r["customer_id"] for r in card["records"]] == [widget_id]  # still alone
