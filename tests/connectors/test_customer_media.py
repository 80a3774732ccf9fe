"""What customers send on Telegram and WhatsApp (photos, documents, locations) reaches the agents:
the real python-telegram-bot fetches files from the local fake Bot API, the hub fetches Twilio's
media with the account's Basic auth from the local fake, and the console API shows them with signed
links. What cannot be fetched is said in the conversation, and the message is kept."""

from __future__ import annotations

import httpx
import pytest

from tests.channel_fakes import FakeTelegram, FakeTwilio, TelegramCustomer, WhatsAppCustomer
from tests.conftest import TELEGRAM_SECRET
from tests.connectors.test_media import PDF, talking_to_ana
from tests.support import AgentClient, RunningHub

pytestmark = pytest.mark.rasa


async def last_message(agent: AgentClient, conversation_id: str) -> dict:
    return (await agent.detail(conversation_id))["messages"][-1]


async def test_a_whatsapp_customers_document_opens_from_the_console(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio, name="Carla")
    conversation_id = await talking_to_ana(carla, hub, agent, "whatsapp")

    form = carla.form(
        "segue o boleto",
        NumMedia="1",
        MediaUrl0=fake_twilio.add_media(PDF, "application/pdf"),
        MediaContentType0="application/pdf",
    )
    assert await carla.send_form(form) == []
    last = await last_message(agent, conversation_id)
    (document,) = last["data"]["attachments"]
    assert (last["sender"], last["text"], document["kind"], document["mime"]) == (
        "customer",
        "segue o boleto",
        "document",
        "application/pdf",
    )
    async with httpx.AsyncClient() as client:
        opened = await client.get(document["ref"])
    assert opened.status_code == 200 and opened.content == PDF
    assert opened.headers["content-type"] == "application/pdf"
    assert opened.headers["x-content-type-options"] == "nosniff"
    await agent.close(conversation_id)


async def test_a_page_sent_as_a_pdf_and_a_missing_file_are_not_kept_and_the_agent_is_told(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio, name="Carla")
    conversation_id = await talking_to_ana(carla, hub, agent, "whatsapp")

    page = b"<html><script>alert(1)</script></html>"
    gone = fake_twilio.add_media(PDF, "application/pdf").rsplit("/", 1)[0] + "/ME-deleted"  # Twilio answers 404
    form = carla.form(
        "",
        NumMedia="2",
        MediaUrl0=fake_twilio.add_media(page, "application/pdf"),
        MediaContentType0="application/pdf",
        MediaUrl1=gone,
        MediaContentType1="application/pdf",
    )
    assert await carla.send_form(form) == []
    last = await last_message(agent, conversation_id)
    wrong_type, not_fetched = last["data"]["attachments"]
    assert last["sender"] == "customer"
    assert wrong_type["note"] == "📎 um arquivo que o cliente enviou não pôde ser baixado: tipo de arquivo não aceito"
    assert not_fetched["note"] == "📎 um arquivo que o cliente enviou não pôde ser baixado: erro ao baixar"
    assert not {"ref", "media_id"} & (wrong_type.keys() | not_fetched.keys())  # nothing stored, nothing to open
    await agent.close(conversation_id)


async def test_a_file_too_large_keeps_the_message_and_says_so_in_the_customers_language(
    hub: RunningHub, fake_telegram: FakeTelegram, agent: AgentClient
) -> None:
    john = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name="John", language_code="en")
    conversation_id = await talking_to_ana(john, hub, agent, "telegram")

    big = fake_telegram.add_file(PDF + b"\x00" * hub.settings.media_inbound_max_bytes)
    update = john.message_update(
        None,
        document={"file_id": big, "file_unique_id": "big", "file_name": "video.pdf", "mime_type": "application/pdf"},
        caption="the whole manual",
    )
    assert await john.send_update(update) == []
    last = await last_message(agent, conversation_id)
    (note,) = last["data"]["attachments"]
    assert (last["sender"], last["text"]) == ("customer", "the whole manual")  # the message is kept
    assert note["note"] == "📎 a file the customer sent could not be fetched: too large"
    await agent.close(conversation_id)


async def test_a_shared_location_shows_its_coordinates(
    hub: RunningHub, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    joana = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name="Joana")
    conversation_id = await talking_to_ana(joana, hub, agent, "telegram")
    assert await joana.send_update(joana.message_update(None, location={"latitude": -23.5614, "longitude": -46.6559})) == []
    last = await last_message(agent, conversation_id)
    assert last["data"]["attachments"] == [{"kind": "location", "latitude": -23.5614, "longitude": -46.6559}]
    await agent.close(conversation_id)

    carla = WhatsAppCustomer(hub, fake_twilio, name="Carla")
    conversation_id = await talking_to_ana(carla, hub, agent, "whatsapp")
    assert await carla.send_form(carla.form("", Latitude="38.7071", Longitude="-9.13549", Address="Lisboa")) == []
    last = await last_message(agent, conversation_id)
    assert last["data"]["attachments"] == [{"kind": "location", "latitude": 38.7071, "longitude": -9.13549}]
    await agent.close(conversation_id)
