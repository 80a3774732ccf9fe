"""Limits on customer input: the token bucket itself, then each channel over the limit (the widget
gets a polite error frame; the Telegram and WhatsApp webhooks answer 429 and store nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.ratelimit import RateLimits, TokenBucket
from tests.channel_fakes import FakeTelegram, FakeTwilio, TelegramCustomer, WhatsAppCustomer
from tests.conftest import TELEGRAM_SECRET
from tests.connectors.test_telegram import conversation_of, customer_record, senders
from tests.support import RunningHub, WidgetCustomer


def test_a_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=6, burst=2, clock=lambda: now[0])
    assert [bucket.allow("a"), bucket.allow("a"), bucket.allow("a")] == [True, True, False]
    assert bucket.allow("b"), "each key has its own bucket"
    now[0] = 5.0  # half a token later
    assert not bucket.allow("a")
    now[0] = 10.0  # one token (6 a minute) since the start
    assert bucket.allow("a") and not bucket.allow("a")


async def test_the_ip_limit_applies_across_customers() -> None:
    limits = RateLimits(customer=TokenBucket(60, 5, clock=lambda: 0.0), ip=TokenBucket(60, 2, clock=lambda: 0.0))
    assert await limits.allow(ip="10.0.0.1", customer="widget:w-1")
    assert await limits.allow(ip="10.0.0.1", customer="widget:w-2")
    assert not await limits.allow(ip="10.0.0.1", customer="widget:w-3")
    assert await limits.allow(ip="10.0.0.2", customer="widget:w-3")


@pytest.fixture
def tight_limits(hub: RunningHub) -> Iterator[RateLimits]:
    """Two messages per customer (and, when a test says so, per IP), no refill during the test."""
    limits: RateLimits = hub.app.state.rate_limits
    saved = (limits.customer, limits.ip)
    limits.customer = TokenBucket(per_minute=0.001, burst=2)
    yield limits
    limits.customer, limits.ip = saved


@pytest.mark.rasa
async def test_a_widget_customer_over_the_limit_gets_a_polite_error(hub: RunningHub, tight_limits: RateLimits) -> None:
    customer = await WidgetCustomer(hub.url).connect()
    try:
        await customer.say("oi")
        await customer.say("como faço pra pagar com pix?")
        refused = await customer.say("e com boleto?")
        assert refused[-1]["type"] == "error" and refused[-1]["code"] == "rate_limited"
        assert refused[-1]["message"].startswith("Você está enviando mensagens rápido demais")
    finally:
        await customer.close()
    conversation_id = await conversation_of(hub, customer.customer_id, "widget")
    assert (await senders(hub, conversation_id)).count("customer") == 2


@pytest.mark.rasa
async def test_a_telegram_customer_over_the_limit_gets_429_and_nothing_is_stored(
    hub: RunningHub, fake_telegram: FakeTelegram, tight_limits: RateLimits
) -> None:
    rui = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET)
    await rui.say("/start")
    await rui.say("como faço pra pagar com pix?")
    response = await rui.post(rui.message_update("e com boleto?"))
    assert response.status_code == 429  # Telegram delivers the update again later
    assert (await senders(hub, await conversation_of(hub, rui.customer_id))).count("customer") == 2
    assert await rui.settle() == []


@pytest.mark.rasa
async def test_a_whatsapp_customer_over_the_limit_gets_429_and_nothing_is_stored(
    hub: RunningHub, fake_twilio: FakeTwilio, tight_limits: RateLimits
) -> None:
    gil = WhatsAppCustomer(hub, fake_twilio)
    await gil.say("olá")
    await gil.say("como faço pra pagar com pix?")
    assert (await gil.post(gil.form("e com boleto?"))).status_code == 429
    assert (await senders(hub, await conversation_of(hub, gil.customer_id, "whatsapp"))).count("customer") == 2
    assert await gil.settle() == []


@pytest.mark.rasa
async def test_many_customers_from_one_ip_are_limited(hub: RunningHub, fake_twilio: FakeTwilio, tight_limits: RateLimits) -> None:
    tight_limits.ip = TokenBucket(per_minute=0.001, burst=1)
    first, second = WhatsAppCustomer(hub, fake_twilio), WhatsAppCustomer(hub, fake_twilio)
    await first.say("olá")
    assert (await second.post(second.form("olá"))).status_code == 429
    assert await customer_record(hub, second.customer_id, "whatsapp") is None
