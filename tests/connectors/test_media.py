"""Agents send files (images, PDFs) to customers: uploaded on the console API, delivered through
the outbox by the real python-telegram-bot and twilio libraries to the local fakes, and served to
the platforms and pages by signed links."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from connectors.media import MediaStore
from handoff.models import Message
from tests.channel_fakes import FakeTelegram, FakeTwilio, TelegramCustomer, WhatsAppCustomer
from tests.conftest import TELEGRAM_SECRET
from tests.connectors.test_telegram import conversation_of
from tests.support import AgentClient, RunningHub, WidgetCustomer

pytestmark = pytest.mark.rasa

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def talking_to_ana(customer, hub: RunningHub, agent: AgentClient, channel: str) -> str:
    """The customer asks for a person and Ana takes the chat; returns the conversation id."""
    await customer.say("quero falar com um atendente")
    conversation_id = await conversation_of(hub, customer.customer_id, channel)
    assert (await agent.claim(conversation_id)).status_code == 200
    await customer.settle()
    return conversation_id


async def test_an_agent_sends_a_pdf_to_a_telegram_customer(
    hub: RunningHub, fake_telegram: FakeTelegram, agent: AgentClient
) -> None:
    joana = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name="Joana")
    conversation_id = await talking_to_ana(joana, hub, agent, "telegram")

    sent = await agent.send_file(conversation_id, "../nota <fiscal>.pdf", PDF, "application/pdf", text="Segue a nota fiscal")
    assert sent.status_code == 201, sent.text
    received = await joana.settle()
    assert len(received) == 1
    assert received[0]["file"]["kind"] == "document" and received[0]["file"]["content"] == PDF
    assert received[0]["file"]["filename"] == "nota <fiscal>.pdf"  # no directories
    assert received[0]["text"] == "Segue a nota fiscal"  # the caption

    last = (await agent.detail(conversation_id))["messages"][-1]
    assert (last["sender"], last["text"], last["delivery"]["status"]) == ("agent", "Segue a nota fiscal", "sent")
    (attachment,) = last["data"]["attachments"]
    assert (attachment["kind"], attachment["mime"], attachment["name"]) == ("document", "application/pdf", "nota <fiscal>.pdf")

    assert (await agent.send_file(conversation_id, "caixa.png", PNG, "image/png")).status_code == 201
    (photo,) = await joana.settle()
    assert (photo["file"]["kind"], photo["file"]["content"], photo["text"]) == ("photo", PNG, "📎 caixa.png")
    await agent.close(conversation_id)


async def test_an_agent_sends_an_image_to_a_whatsapp_customer_by_a_signed_link(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio, name="Carla")
    conversation_id = await talking_to_ana(carla, hub, agent, "whatsapp")

    assert (await agent.send_file(conversation_id, "etiqueta.png", PNG, "image/png")).status_code == 201
    (received,) = await carla.settle()
    assert received["body"] == "📎 etiqueta.png"
    (url,) = received["media_url"]
    assert url.startswith(f"{hub.settings.public_url}/media/")
    async with httpx.AsyncClient() as client:
        served = await client.get(url)  # what Twilio fetches
        assert (served.status_code, served.content, served.headers["content-type"]) == (200, PNG, "image/png")
        forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
        assert (await client.get(forged)).status_code == 403
        assert (await client.get(f"{hub.url}/media/not-a-token")).status_code == 403
    await agent.close(conversation_id)


async def test_a_widget_customer_gets_a_link_to_the_file(hub: RunningHub, agent: AgentClient) -> None:
    customer = await WidgetCustomer(hub.url).connect()
    try:
        await customer.say("quero falar com um atendente")
        conversation_id = await conversation_of(hub, customer.customer_id, "widget")
        assert (await agent.claim(conversation_id)).status_code == 200
        assert (await agent.send_file(conversation_id, "boleto.pdf", PDF, "application/pdf")).status_code == 201
        frame = await customer.wait_for(lambda f: f.get("type") == "message" and f.get("attachments"))
        (link,) = frame["attachments"]
        assert link["name"] == "boleto.pdf"
        async with httpx.AsyncClient() as client:
            assert (await client.get(link["url"])).content == PDF
    finally:
        await customer.close()
    await agent.close(conversation_id)


async def test_a_file_sent_last_week_still_opens_from_the_history(hub: RunningHub, agent: AgentClient) -> None:
    """The link stored with a message expires after a week; the page and the console sign a new one."""
    customer = await WidgetCustomer(hub.url).connect()
    try:
        await customer.say("quero falar com um atendente")
        conversation_id = await conversation_of(hub, customer.customer_id, "widget")
        assert (await agent.claim(conversation_id)).status_code == 200
        assert (await agent.send_file(conversation_id, "nota-fiscal.pdf", PDF, "application/pdf")).status_code == 201
        await customer.wait_for(lambda f: f.get("type") == "message" and f.get("attachments"))
    finally:
        await customer.close()

    async def eight_days_pass() -> str:
        """The message's stored link, as if signed eight days ago."""
        eight_days_ago = MediaStore(
            hub.settings.media_dir, hub.settings.media_secret, public_url=hub.url, clock=lambda: time.time() - 8 * 86_400
        )
        async with hub.app.state.desk.unit_of_work() as session:
            message = (
                (
                    await session.execute(
                        sa.select(Message)
                        .where(Message.conversation_id == conversation_id, Message.sender == "agent")
                        .order_by(Message.id.desc())
                    )
                )
                .scalars()
                .first()
            )
            (attachment,) = message.data["attachments"]
            old = eight_days_ago.link(attachment["media_id"], mime=attachment["mime"], name=attachment["name"])
            message.data = {**message.data, "attachments": [{**attachment, "ref": old}]}
            return old

    old_link = hub.call(eight_days_pass)
    async with httpx.AsyncClient() as client:
        assert (await client.get(old_link)).status_code == 410
        returning = await WidgetCustomer(hub.url, token=customer.token).connect()
        await returning.close()
        (shown,) = [a for m in returning.history["messages"] for a in m["attachments"]]
        assert shown["url"] != old_link and (await client.get(shown["url"])).content == PDF
        in_console = [
            a for m in (await agent.detail(conversation_id))["messages"] for a in (m["data"] or {}).get("attachments", [])
        ]
        assert len(in_console) == 1 and (await client.get(in_console[0]["ref"])).content == PDF
    await agent.close(conversation_id)


async def test_a_file_too_large_or_of_another_type_is_refused_and_nothing_is_stored(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    dora = WhatsAppCustomer(hub, fake_twilio, name="Dora")
    conversation_id = await talking_to_ana(dora, hub, agent, "whatsapp")
    media_dir = hub.settings.media_dir
    files_before = set(media_dir.iterdir()) if media_dir.exists() else set()
    messages_before = len((await agent.detail(conversation_id))["messages"])

    too_big = await agent.send_file(
        conversation_id, "grande.pdf", PDF + b"\x00" * hub.settings.media_max_bytes, "application/pdf"
    )
    assert too_big.status_code == 413 and "MB" in too_big.json()["detail"]
    exe = await agent.send_file(conversation_id, "programa.exe", b"MZ\x90\x00", "application/octet-stream")
    assert exe.status_code == 415 and "JPEG, PNG or PDF" in exe.json()["detail"]
    disguised = await agent.send_file(conversation_id, "foto.png", b"<html>not a png</html>", "image/png")
    assert disguised.status_code == 415

    assert len((await agent.detail(conversation_id))["messages"]) == messages_before
    assert (set(media_dir.iterdir()) if media_dir.exists() else set()) == files_before
    assert await dora.settle() == []
    await agent.close(conversation_id)


async def test_only_the_agent_holding_the_chat_can_send_a_file(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    gil = WhatsAppCustomer(hub, fake_twilio, name="Gil")
    await gil.say("quero falar com um atendente")
    conversation_id = await conversation_of(hub, gil.customer_id, "whatsapp")  # queued: nobody holds it
    media_dir = hub.settings.media_dir
    files_before = set(media_dir.iterdir()) if media_dir.exists() else set()
    refused = await agent.send_file(conversation_id, "boleto.pdf", PDF, "application/pdf")
    assert refused.status_code == 409
    assert (set(media_dir.iterdir()) if media_dir.exists() else set()) == files_before
    no_csrf = await agent.http.post(
        f"/api/agent/conversations/{conversation_id}/attachments",
        files={"file": ("boleto.pdf", PDF, "application/pdf")},
        headers={"X-CSRF-Token": "wrong"},
    )
    assert no_csrf.status_code == 403
