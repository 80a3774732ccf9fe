"""Customers on Telegram: the real python-telegram-bot in the hub, a local fake Bot API, the real
Rasa server and agents on the console API."""

from __future__ import annotations

import pytest

from tests.channel_fakes import FakeTelegram, TelegramCustomer, outbox_rows
from tests.conftest import TELEGRAM_SECRET
from tests.e2e.test_conversations import article_title, stored_survey
from tests.support import AgentClient, RunningHub

pytestmark = pytest.mark.rasa
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def texts(received: list[dict]) -> list[str]:
    return [m["text"] for m in received]


def keys(message: dict) -> list[list[str]]:
    return [[k["text"] for k in row] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]


async def conversation_of(hub: RunningHub, customer_id: str, channel: str = "telegram") -> str:
    import handoff

    async def read() -> str:
        async with hub.app.state.desk.sessions() as session:
            return (await handoff.latest_conversation(session, channel=channel, customer_id=customer_id)).id

    return hub.call(read)


async def senders(hub: RunningHub, conversation_id: str) -> list[str]:
    import handoff

    async def read() -> list[str]:
        async with hub.app.state.desk.sessions() as session:
            return [m.sender for m in await handoff.conversation_history(session, conversation_id)]

    return hub.call(read)


async def customer_record(hub: RunningHub, customer_id: str, channel: str = "telegram"):
    from connectors import customers

    async def read():
        async with hub.app.state.desk.sessions() as session:
            return await customers.get_customer(session, channel=channel, customer_id=customer_id)

    return hub.call(read)


async def test_a_telegram_customer_is_answered_talks_to_an_agent_and_rates_the_service(
    hub: RunningHub, fake_telegram: FakeTelegram, agent: AgentClient
) -> None:
    joana = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name="Joana")
    hello = await joana.say("/start")
    assert "assistente da Loja Maré" in texts(hello)[0]

    answer = await joana.say("qual o prazo de entrega pra minha cidade?")
    assert texts(answer)[0].startswith(f"<b>{article_title('pt-BR', 'prazo-de-entrega')}</b>")
    assert answer[0]["parse_mode"] == "HTML"
    assert texts(answer)[-1] == "Isso resolveu sua dúvida?"
    assert keys(answer[-1]) == [["Sim"], ["Não"]]

    # One passage of the article (its delivery times, or its express delivery), not the whole of it.
    assert not ("dias úteis" in texts(answer)[0] and "Entrega Expressa" in texts(answer)[0])

    other = await joana.say("como cadastro a inscrição estadual na conta?")  # two articles score close
    next_best = await joana.tap("Não", other)
    assert fake_telegram.calls_of("answerCallbackQuery"), "the tap's spinner is stopped"
    assert texts(next_best)[0] == "Talvez isto ajude:"
    assert texts(next_best)[1].startswith("<b>") and texts(next_best)[1] != texts(other)[0]
    assert texts(next_best)[-1] == "Isso resolveu sua dúvida?"

    queued = await joana.say("quero falar com um atendente")
    assert "time de atendimento" in texts(queued)[-2]
    assert texts(queued)[-1].startswith("Você é o ") and "da fila" in texts(queued)[-1]
    conversation_id = await conversation_of(hub, joana.customer_id)
    assert (await agent.claim(conversation_id)).status_code == 200
    assert texts(await joana.settle()) == ["Ana entrou na conversa."]
    assert (await agent.reply(conversation_id, "Oi Joana, sou a Ana. <Pode> mandar a foto?")).status_code == 201
    assert texts(await joana.settle()) == ["Oi Joana, sou a Ana. &lt;Pode&gt; mandar a foto?"]

    photo = joana.message_update(
        None,
        photo=[
            {"file_id": "small-id", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": fake_telegram.add_file(JPEG), "file_unique_id": "b", "width": 800, "height": 800},
        ],
        caption="chegou assim",
    )
    assert await joana.send_update(photo) == []  # the agent answers now, not the bot
    detail = await agent.detail(conversation_id)
    last = detail["messages"][-1]
    (image,) = last["data"]["attachments"]
    assert (last["sender"], last["text"], image["kind"], image["mime"]) == ("customer", "chegou assim", "image", "image/jpeg")
    assert detail["customer"]["name"] == "Joana" and detail["customer"]["language"] == "pt-BR"
    assert {m["delivery"]["status"] for m in detail["messages"] if m["sender"] != "customer"} == {"sent"}

    assert (await agent.close(conversation_id)).status_code == 200
    survey = await joana.settle()
    assert texts(survey) == ["De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"]
    assert keys(survey[-1]) == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"], ["Pular"]]
    reason = await joana.tap("9", survey)
    assert texts(reason) == ["Obrigado! Qual o principal motivo da sua nota? (opcional)"]
    thanks = await joana.say("A Ana resolveu rápido")
    assert "Obrigado pela sua opinião" in texts(thanks)[0]
    row = await stored_survey(hub, conversation_id)
    assert (row.score, row.reason, row.channel, row.bot_only) == (9, "A Ana resolveu rápido", "telegram", False)


async def test_the_customers_language_comes_from_telegram(hub: RunningHub, fake_telegram: FakeTelegram) -> None:
    john = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name="John", language_code="en-US")
    answer = await john.say("how can I track my order?")
    assert texts(answer)[0].startswith(f"<b>{article_title('en', 'rastrear-pedido')}</b>")
    assert keys(answer[-1]) == [["Yes"], ["No"]]


async def test_a_forged_or_missing_secret_token_is_refused_and_nothing_is_stored(
    hub: RunningHub, fake_telegram: FakeTelegram
) -> None:
    mallory = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    update = mallory.message_update("quero falar com um atendente")
    assert (await mallory.post(update, secret="telegram-webhook-secret-for-testz")).status_code == 403
    assert (await mallory.post(update, secret="")).status_code == 403
    assert await customer_record(hub, mallory.customer_id) is None
    assert await mallory.settle() == []


async def test_a_duplicate_update_is_processed_once(hub: RunningHub, fake_telegram: FakeTelegram) -> None:
    rui = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    update = rui.message_update("como faço pra pagar com pix?")
    first = await rui.send_update(update)
    again = await rui.send_update(update)  # Telegram redelivers when it missed our answer
    assert texts(first)[-1] == "Isso resolveu sua dúvida?" and again == []
    assert (await senders(hub, await conversation_of(hub, rui.customer_id))).count("customer") == 1


async def test_a_file_sent_to_the_bot_gets_a_polite_answer(hub: RunningHub, fake_telegram: FakeTelegram) -> None:
    bia = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    voice = bia.message_update(
        None, voice={"file_id": "voice-1", "file_unique_id": "v1", "duration": 3, "mime_type": "audio/ogg"}
    )
    assert texts(await bia.send_update(voice)) == [
        "Recebi seu arquivo, mas eu só consigo ler texto. Descreva sua dúvida em palavras, ou peça para falar com uma pessoa."
    ]


async def test_telegram_flood_control_is_respected_and_the_message_arrives(hub: RunningHub, fake_telegram: FakeTelegram) -> None:
    eva = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    fake_telegram.rate_limit_next(retry_after=1)
    greeting = await eva.say("/start")
    assert len(greeting) == 1 and "assistente da Loja Maré" in greeting[0]["text"]
    row = (await outbox_rows(hub, "telegram", eva.customer_id))[-1]
    assert (row.status, row.attempts) == ("sent", 2)
    assert [c["text"][:10] for c in fake_telegram.calls_of("sendMessage") if c["chat_id"] == str(eva.user_id)] == [
        greeting[0]["text"][:10]
    ] * 2  # refused once with retry_after, then accepted


async def test_telegram_server_errors_are_retried_and_the_message_arrives_once(
    hub: RunningHub, fake_telegram: FakeTelegram
) -> None:
    leo = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    fake_telegram.break_next(times=2)
    greeting = await leo.say("/help")
    assert len(greeting) == 1 and "assistente da Loja Maré" in greeting[0]["text"]
    assert (await outbox_rows(hub, "telegram", leo.customer_id))[-1].attempts == 3


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_until_they_write_again(
    hub: RunningHub, fake_telegram: FakeTelegram
) -> None:
    ivo = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    fake_telegram.blocked_next()
    assert await ivo.say("qual o prazo de entrega?") == []
    rows = await outbox_rows(hub, "telegram", ivo.customer_id)
    assert [r.status for r in rows] == ["failed", "not_sent"]
    assert "blocked" in (await customer_record(hub, ivo.customer_id)).unreachable_reason

    back = await ivo.say("/start")  # they unblocked the bot and wrote again
    assert len(back) == 1
    assert (await customer_record(hub, ivo.customer_id)).unreachable_at is None
