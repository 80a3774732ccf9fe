"""Platforms misbehave: Telegram and Twilio deliver a webhook twice and out of order, and their APIs
answer 5xx and 429 before accepting a message, or take it and answer too late. Each customer message
is stored once, none is lost, and each reply reaches the customer once. (A hub whose Rasa never answers: every chat is queued for
a person, and what the customer is told is the hub's own wording, sent through the outbox.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import handoff
from tests.channel_fakes import FakeTelegram, FakeTwilio, TelegramCustomer, WhatsAppCustomer, outbox_rows
from tests.conftest import TELEGRAM_SECRET, channel_settings
from tests.hub.test_faults import one_article_kb
from tests.support import RunningHub, queueing_hub

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, index_cache: Path, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("webhook-faults")
    with queueing_hub(
        "postgresql",
        tmp,
        cache_dir=index_cache,
        staff=[],
        kb_dir=one_article_kb(tmp),
        **channel_settings(fake_telegram, fake_twilio) | {"twilio_timeout_s": 1.0},
    ) as running:
        yield running


def customer_texts(hub: RunningHub, channel: str, customer_id: str) -> list[str]:
    async def read() -> list[str]:
        async with hub.app.state.desk.sessions() as session:
            conversation = await handoff.latest_conversation(session, channel=channel, customer_id=customer_id)
            assert conversation is not None
            return [m.text for m in await handoff.conversation_history(session, conversation.id) if m.sender == "customer"]

    return hub.call(read)


async def sent_rows(hub: RunningHub, channel: str, customer_id: str) -> int:
    """How many replies the outbox has handed to the platform for this customer."""
    return sum(1 for row in await outbox_rows(hub, channel, customer_id) if row.status == "sent")


async def test_a_telegram_update_delivered_twice_and_out_of_order_is_stored_once_each(
    hub: RunningHub, fake_telegram: FakeTelegram
) -> None:
    rosa = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    first, second = rosa.message_update("O meu pedido não chegou"), rosa.message_update("É o pedido 1234")
    for update in (second, first, second, first):  # Telegram retried both, and the second overtook the first
        assert (await rosa.post(update)).status_code == 200
    await rosa.settle()
    assert sorted(customer_texts(hub, "telegram", rosa.customer_id)) == sorted(["O meu pedido não chegou", "É o pedido 1234"])
    assert len(fake_telegram.messages_to(rosa.user_id)) == await sent_rows(hub, "telegram", rosa.customer_id) > 0


async def test_a_whatsapp_message_delivered_twice_and_out_of_order_is_stored_once_each(
    hub: RunningHub, fake_twilio: FakeTwilio
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio)
    first, second = carla.form("Quero trocar o tamanho"), carla.form("É um 42")
    for form in (second, first, first, second):
        assert (await carla.post(form)).status_code == 200
    await carla.settle()
    assert sorted(customer_texts(hub, "whatsapp", carla.customer_id)) == sorted(["Quero trocar o tamanho", "É um 42"])
    assert len(fake_twilio.messages_to(carla.number)) == await sent_rows(hub, "whatsapp", carla.customer_id) > 0


async def test_platform_errors_and_rate_limits_delay_replies_but_each_arrives_once(
    hub: RunningHub, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    rosa = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    fake_telegram.break_next(times=2)  # 500, 500
    fake_telegram.rate_limit_next(retry_after=1)  # then 429 with retry_after
    await rosa.say("Preciso de ajuda")
    assert len(fake_telegram.messages_to(rosa.user_id)) == await sent_rows(hub, "telegram", rosa.customer_id) > 0

    carla = WhatsAppCustomer(hub, fake_twilio)
    fake_twilio.break_next(503, times=2)
    fake_twilio.break_next(429)
    await carla.say("Preciso de ajuda")
    assert len(fake_twilio.messages_to(carla.number)) == await sent_rows(hub, "whatsapp", carla.customer_id) > 0


async def test_a_whatsapp_reply_twilio_took_but_answered_too_late_reaches_the_customer_once(
    hub: RunningHub, fake_twilio: FakeTwilio
) -> None:
    carla = WhatsAppCustomer(hub, fake_twilio)
    fake_twilio.delay_s = 2.5  # Twilio takes each message, then answers after the hub stopped waiting (1 s)
    try:
        received = await carla.say("O meu pedido não chegou")
    finally:
        fake_twilio.delay_s = 0.0
    rows = await outbox_rows(hub, "whatsapp", carla.customer_id)
    assert any(row.attempts > 1 for row in rows), "no send timed out: the fault did not happen"
    assert received and all(row.status == "sent" for row in rows)
    assert [m["body"] for m in fake_twilio.messages_to(carla.number)] == [m["body"] for m in received]
    assert len(received) == len(rows), f"{len(received)} messages reached Carla for {len(rows)} replies"
