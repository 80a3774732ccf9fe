"""The widget's token: kept out of URLs, refreshed by a returning customer, refused once expired;
and the limits on what a widget may send (every frame, every token minted)."""

from __future__ import annotations

import ipaddress
import json
import time

import httpx
import pytest
import websockets
from itsdangerous import URLSafeSerializer

from connectors.ratelimit import RateLimits, TokenBucket
from connectors.widget import WidgetTokens
from hub.settings import DEV_SECRET
from tests.support import RunningHub, WidgetCustomer, widget_protocols

HOUR = 3600


def ws_url(hub: RunningHub, query: str = "lang=pt-BR") -> str:
    return hub.url.replace("http", "ws") + f"/widget/ws?{query}"


async def test_the_token_rides_in_the_handshake_header_not_in_the_url(bare_hub: RunningHub) -> None:
    customer = await WidgetCustomer(bare_hub.url).connect()
    assert customer.ws.subprotocol == "balcao.widget"
    assert customer.history["type"] == "history"
    await customer.close()
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(ws_url(bare_hub, f"token={customer.token}&lang=pt-BR"))
    assert refused.value.response.status_code == 403


async def test_a_returning_customer_gets_a_fresh_token_for_the_same_conversation(bare_hub: RunningHub) -> None:
    tokens = WidgetTokens(bare_hub.settings.widget_secret, clock=lambda: time.time() - 23 * HOUR)
    customer_id, old = tokens.issue()  # 23 hours old: still valid for a day's lifetime
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{bare_hub.url}/widget/session", json={"token": old})
    assert r.status_code == 200
    assert r.json()["expires_in"] == 24 * HOUR
    fresh = WidgetCustomer(bare_hub.url, token=r.json()["token"])
    assert fresh.customer_id == customer_id and fresh.token != old


async def test_an_expired_widget_token_is_refused_politely(bare_hub: RunningHub) -> None:
    _, expired = WidgetTokens(bare_hub.settings.widget_secret, clock=lambda: time.time() - 25 * HOUR).issue()
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{bare_hub.url}/widget/session", json={"token": expired})
    assert r.status_code == 403
    assert r.json()["detail"] == "this chat session has expired, sorry: please start a new chat"
    assert r.headers["access-control-allow-origin"] == "*"  # the widget on the shop's site can read it
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(ws_url(bare_hub), subprotocols=widget_protocols(expired))
    assert refused.value.response.status_code == 403
    assert "expired" in json.loads(refused.value.response.body)["detail"]


async def test_a_widget_token_forged_with_the_old_development_secret_is_refused(bare_hub: RunningHub) -> None:
    victim = await WidgetCustomer(bare_hub.url).connect()
    await victim.close()
    forged = URLSafeSerializer(DEV_SECRET, salt="balcao-widget").dumps({"c": victim.customer_id})
    async with httpx.AsyncClient() as client:
        assert (await client.post(f"{bare_hub.url}/widget/session", json={"token": forged})).status_code == 403
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(ws_url(bare_hub), subprotocols=widget_protocols(forged))
    assert refused.value.response.status_code == 403


async def test_typing_frames_count_against_the_address_limit(bare_hub: RunningHub, bare_limits: RateLimits) -> None:
    customer = await WidgetCustomer(bare_hub.url).connect()
    try:
        bare_limits.ip = TokenBucket(per_minute=0.001, burst=3)
        for _ in range(3):
            await customer.ws.send(json.dumps({"type": "typing"}))
        refused = await customer.say("oi")
        assert refused[-1]["type"] == "error" and refused[-1]["code"] == "rate_limited"
        assert refused[-1]["message"].startswith("Você está enviando mensagens rápido demais")
    finally:
        await customer.close()


async def test_typing_does_not_use_up_the_customers_messages(bare_hub: RunningHub, bare_limits: RateLimits) -> None:
    customer = await WidgetCustomer(bare_hub.url).connect()
    try:
        bare_limits.customer = TokenBucket(per_minute=0.001, burst=2)
        for _ in range(5):  # beyond the typing bucket's burst too: the extra frames are dropped
            await customer.ws.send(json.dumps({"type": "typing"}))
        assert (await customer.say("quero falar com uma pessoa"))[-1]["type"] == "ack"
    finally:
        await customer.close()


async def test_widget_tokens_are_limited_per_address(bare_hub: RunningHub, bare_limits: RateLimits) -> None:
    bare_limits.ip = TokenBucket(per_minute=0.001, burst=2)
    async with httpx.AsyncClient(base_url=bare_hub.url) as client:
        assert [(await client.post("/widget/session", json={})).status_code for _ in range(2)] == [200, 200]
        refused = await client.post("/widget/session", json={})
    assert refused.status_code == 429
    assert refused.json()["detail"] == "too many chats started from your address: please try again in a minute"
    assert refused.headers["access-control-allow-origin"] == "*"


async def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(
    bare_hub: RunningHub, bare_limits: RateLimits
) -> None:
    async def mint(forwarded_for: str) -> int:
        async with httpx.AsyncClient(base_url=bare_hub.url) as client:
            return (await client.post("/widget/session", json={}, headers={"X-Forwarded-For": forwarded_for})).status_code

    # Untrusted by default: the header is the client's own say, and every request is 127.0.0.1's.
    assert bare_hub.settings.trusted_proxies == []
    bare_limits.ip = TokenBucket(per_minute=0.001, burst=1)
    assert [await mint("203.0.113.7"), await mint("203.0.113.8")] == [200, 429]

    # Behind a trusted proxy (the test client's 127.0.0.1), each forwarded client has a bucket.
    bare_limits.ip = TokenBucket(per_minute=0.001, burst=1)
    bare_limits.trusted_proxies = (ipaddress.ip_network("127.0.0.1/32"),)
    assert [await mint("203.0.113.7"), await mint("203.0.113.7"), await mint("203.0.113.8")] == [200, 429, 200]
    # What a client writes to the left of what the proxy appended does not buy it a new bucket.
    assert await mint("198.51.100.1, 203.0.113.7") == 429


async def test_a_binary_frame_is_refused_and_the_chat_stays_open(bare_hub: RunningHub) -> None:
    customer = await WidgetCustomer(bare_hub.url).connect()
    await customer.ws.send(b"\x00\x01 not text")
    refused = json.loads(await customer.ws.recv())
    assert refused["type"] == "error" and refused["code"] == "bad_frame"
    await customer.ws.send(json.dumps({"type": "typing"}))
    await customer.ws.ping()  # the connection is still up
    await customer.close()
