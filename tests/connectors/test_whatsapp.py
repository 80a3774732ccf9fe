"""Customers on WhatsApp: the real twilio library in the hub, a local fake Twilio API, the real
Rasa server and agents on the console API."""

from __future__ import annotations

import asyncio

import pytest

from tests.channel_fakes import FakeTwilio, WhatsAppCustomer, outbox_rows
from tests.connectors.test_telegram import conversation_of, customer_record, senders
from tests.e2e.test_conversations import article_title, stored_survey
from tests.support import AgentClient, RunningHub

pytestmark = pytest.mark.rasa


def bodies(received: list[dict]) -> list[str]:
    return [m["body"] for m in received]


async def test_a_whatsapp_customer_is_answered_talks_to_an_agent_and_rates_the_service(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio, name="Carla")
    answer = await carla.say("qual o prazo de entrega pra minha cidade?")
    assert bodies(answer)[0].startswith(article_title("pt-BR", "prazo-de-entrega") + "\n")  # plain text: no ** markers
    assert bodies(answer)[-1] == "Isso resolveu sua dúvida?\n\n1. Sim\n2. Não\n\nResponda com o número."
    assert answer[-1]["status_callback"] == f"{hub.settings.public_url}/webhooks/whatsapp/status"

    other = await carla.say("como cadastro a inscrição estadual na conta?")  # two articles score close
    next_best = await carla.say("2")  # "Não", by its number
    assert bodies(next_best)[0] == "Talvez isto ajude:"
    assert bodies(next_best)[1] != bodies(other)[0]
    assert bodies(next_best)[-1].startswith("Isso resolveu sua dúvida?")

    queued = await carla.say("quero falar com uma pessoa")
    assert "time de atendimento" in bodies(queued)[-2]
    assert bodies(queued)[-1].startswith("Você é o ") and "da fila" in bodies(queued)[-1]
    conversation_id = await conversation_of(hub, carla.customer_id, "whatsapp")
    assert (await agent.claim(conversation_id)).status_code == 200
    assert bodies(await carla.settle()) == ["Ana entrou na conversa."]
    assert (await agent.reply(conversation_id, "Oi Carla, sou a Ana. Pode mandar a nota fiscal?")).status_code == 201
    assert bodies(await carla.settle()) == ["Oi Carla, sou a Ana. Pode mandar a nota fiscal?"]

    pdf = carla.form(
        "",
        NumMedia="1",
        MediaUrl0=fake_twilio.add_media(b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        MediaContentType0="application/pdf",
    )
    assert await carla.send_form(pdf) == []  # the agent answers now, not the bot
    detail = await agent.detail(conversation_id)
    last = detail["messages"][-1]
    assert (last["text"], last["data"]["attachments"][0]["mime"]) == ("[document]", "application/pdf")
    assert detail["customer"]["name"] == "Carla"

    assert (await agent.close(conversation_id)).status_code == 200
    survey = await carla.settle()
    assert bodies(survey) == ["De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"]  # no numbered list
    reason = await carla.say("9")
    assert bodies(reason)[0].startswith("Obrigado! Qual o principal motivo da sua nota? (opcional)\n\n1. Pular")
    thanks = await carla.say("A Ana foi ótima")
    assert "Obrigado pela sua opinião" in bodies(thanks)[0]
    row = await stored_survey(hub, conversation_id)
    assert (row.score, row.reason, row.channel) == (9, "A Ana foi ótima", "whatsapp")


async def test_status_callbacks_show_agents_delivered_read_and_failed(
    hub: RunningHub, fake_twilio: FakeTwilio, agent: AgentClient
) -> None:
    dora = WhatsAppCustomer(hub, fake_twilio, name="Dora")
    await dora.say("quero falar com um atendente")
    conversation_id = await conversation_of(hub, dora.customer_id, "whatsapp")
    await agent.claim(conversation_id)
    await dora.settle()
    await agent.reply(conversation_id, "Primeira resposta")
    await agent.reply(conversation_id, "Segunda resposta")
    first, second = await dora.settle()
    path = "/webhooks/whatsapp/status"
    for sid, status, extra in (
        (first["sid"], "delivered", {}),
        (first["sid"], "read", {}),
        (first["sid"], "sent", {}),
        (second["sid"], "undelivered", {"ErrorCode": "63024"}),
    ):
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": fake_twilio.account_sid, **extra}
        assert (await dora.post(form, path=path)).status_code == 204
    forged = {"MessageSid": second["sid"], "MessageStatus": "read", "AccountSid": fake_twilio.account_sid}
    assert (await dora.post(forged, path=path, signature="bm90IGEgc2lnbmF0dXJl")).status_code == 403

    by_text = {m["text"]: m["delivery"] for m in (await agent.detail(conversation_id))["messages"]}
    assert by_text["Primeira resposta"]["status"] == "read"  # a late "sent" does not undo "read"
    assert (by_text["Segunda resposta"]["status"], by_text["Segunda resposta"]["error"]) == ("failed", "Twilio error 63024")


async def test_a_forged_signature_is_refused_and_nothing_is_stored(hub: RunningHub, fake_twilio: FakeTwilio) -> None:
    mallory = WhatsAppCustomer(hub, fake_twilio)
    form = mallory.form("quero falar com um atendente")
    signed_for_other_text = mallory.signature("/webhooks/whatsapp", {**form, "Body": "oi"})
    assert (await mallory.post(form, signature=signed_for_other_text)).status_code == 403
    assert (await mallory.post(form, signature="")).status_code == 403
    assert await customer_record(hub, mallory.customer_id, "whatsapp") is None
    assert await mallory.settle() == []


async def test_a_duplicate_message_sid_is_processed_once(hub: RunningHub, fake_twilio: FakeTwilio) -> None:
    gil = WhatsAppCustomer(hub, fake_twilio)
    form = gil.form("como faço pra pagar com pix?")
    first = await gil.send_form(form)
    again = await gil.send_form(form)  # Twilio retries a webhook it thinks failed
    assert bodies(first)[-1].startswith("Isso resolveu sua dúvida?") and again == []
    assert (await senders(hub, await conversation_of(hub, gil.customer_id, "whatsapp"))).count("customer") == 1


async def test_twilio_errors_are_retried_and_the_message_arrives_once(hub: RunningHub, fake_twilio: FakeTwilio) -> None:
    hugo = WhatsAppCustomer(hub, fake_twilio)
    fake_twilio.break_next(503)
    fake_twilio.break_next(429)
    answer = await hugo.say("olá")
    assert len(answer) == 1 and "assistente da Loja Maré" in bodies(answer)[0]
    rows = await outbox_rows(hub, "whatsapp", hugo.customer_id)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 3)]


async def test_a_quiet_whatsapp_customer_gets_the_survey_before_the_24_hour_window_closes(
    hub: RunningHub, fake_twilio: FakeTwilio
) -> None:
    # A desk that waits long for quiet customers (longer than WhatsApp's window, here shortened to
    # 30 minutes so the test need not wait a day: the ending comes 30 minutes before it closes, so now).
    settings = hub.app.state.settings
    before = (settings.inactivity_seconds, settings.whatsapp_window_hours)
    settings.inactivity_seconds, settings.whatsapp_window_hours = 2 * 86400, 0.5
    try:
        dora = WhatsAppCustomer(hub, fake_twilio, name="Dora")
        answered = await dora.say("qual o prazo de entrega pra minha cidade?")
        conversation_id = await conversation_of(hub, dora.customer_id, "whatsapp")
        desk = hub.app.state.desk

        # Two sweeps at once (another hub's, and this one's): the question is asked once. The hub's
        # own loop (every 30 s) may have been first, while she was being answered: once all the same.
        async def two_sweeps() -> None:
            await asyncio.gather(desk.end_quiet_conversations(), desk.end_quiet_conversations())

        hub.call(two_sweeps)
        nps = "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"
        for _ in range(300):  # begun by the hub's loop mid-turn, the ending may still be on its way
            if nps in bodies(fake_twilio.messages_to(dora.number)):
                break
            await asyncio.sleep(0.1)
        received = bodies(answered + await dora.settle())
        assert received.count(nps) == 1 and received[-1] == nps, received
        row = await stored_survey(hub, conversation_id)
        assert (row.ending, row.channel) == ("window_closing", "whatsapp")

        # The survey's "skip", typed where buttons are text: no score, and no reason asked.
        skipped = await dora.say("Pular")
        assert bodies(skipped) == ["Sem problema. Esta conversa foi encerrada; escreva quando precisar."]
        assert (await stored_survey(hub, conversation_id)).score is None
    finally:
        settings.inactivity_seconds, settings.whatsapp_window_hours = before
