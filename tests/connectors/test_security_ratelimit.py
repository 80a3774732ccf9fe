"""The limits seen from several hub replicas (one bucket per customer for all of them, through
Redis) and from behind a proxy (the client's address, not the proxy's)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from connectors.ratelimit import RedisTokenBucket, client_address, parse_networks
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS)
    yield client
    await client.aclose()


async def test_a_redis_bucket_allows_a_burst_then_refuses(redis: Redis) -> None:
    prefix = f"balcao-test-{uuid.uuid4().hex[:8]}:rate"
    bucket = RedisTokenBucket(redis, per_minute=0.001, burst=2, prefix=prefix)
    assert [await bucket.take("a"), await bucket.take("a"), await bucket.take("a")] == [True, True, False]
    assert await bucket.take("b"), "each key has its own bucket"
    assert 0 < await redis.ttl(f"{prefix}:a") <= 86_400, "an idle bucket is forgotten"
    await redis.delete(f"{prefix}:a", f"{prefix}:b")


async def test_without_redis_the_customers_are_let_through() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0")
    bucket = RedisTokenBucket(unreachable, per_minute=0.001, burst=1, prefix="balcao-test")
    assert [await bucket.take("a"), await bucket.take("a")] == [True, True]
    await unreachable.aclose()


def test_the_client_address_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy() -> None:
    proxies = parse_networks(["10.0.0.0/8", "::1"])
    assert client_address("203.0.113.7", ["198.51.100.1"], proxies) == "203.0.113.7"  # not a proxy: its own say
    assert client_address("10.0.0.5", ["198.51.100.1"], ()) == "10.0.0.5"  # no proxy trusted (the default)
    assert client_address("10.0.0.5", ["198.51.100.1"], proxies) == "198.51.100.1"
    assert client_address("10.0.0.5", ["1.1.1.1, 198.51.100.1, 10.0.0.9"], proxies) == "198.51.100.1"  # two proxies
    assert client_address("10.0.0.5", ["1.1.1.1", "198.51.100.1"], proxies) == "198.51.100.1"  # the header twice
    assert client_address("::1", ["2001:db8::1"], proxies) == "2001:db8::1"
    assert client_address("10.0.0.5", [], proxies) == "10.0.0.5"  # the proxy itself


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two hubs sharing their secrets and a Redis: two messages a customer, six frames or tokens an
    address."""
    tmp = tmp_path_factory.mktemp("limited-replicas")
    shared: dict = {
        "redis_url": REDIS,
        "redis_prefix": f"balcao-test-{uuid.uuid4().hex[:8]}",
        "rasa_attempts": 1,
        "rate_customer_per_minute": 0.001,
        "rate_customer_burst": 2,
        "rate_ip_per_minute": 0.001,
        "rate_ip_burst": 6,
        "trusted_proxies": ["127.0.0.1"],  # the address test speaks for its own client (X-Forwarded-For)
    }
    a = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    b = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    yield a, b
    a.stop()
    b.stop()
    keys = SyncRedis.from_url(REDIS)
    for key in keys.scan_iter(f"{shared['redis_prefix']}:*"):
        keys.delete(key)
    keys.close()


async def test_two_replicas_share_a_customers_bucket(two_replicas: tuple[RunningHub, RunningHub]) -> None:
    a, b = two_replicas
    on_a = await WidgetCustomer(a.url).connect()
    try:
        assert (await on_a.say("quero falar com uma pessoa"))[-1]["type"] == "ack"
        assert (await on_a.say("é urgente"))[-1]["type"] == "ack"
    finally:
        await on_a.close()
    on_b = await WidgetCustomer(b.url, token=on_a.token).connect()
    try:
        refused = await on_b.say("alô?")
        assert refused[-1]["type"] == "error" and refused[-1]["code"] == "rate_limited"
    finally:
        await on_b.close()


async def test_two_replicas_share_an_addresss_bucket(two_replicas: tuple[RunningHub, RunningHub]) -> None:
    a, b = two_replicas
    client = {"X-Forwarded-For": "203.0.113.50"}
    async with httpx.AsyncClient() as http:
        minted = [(await http.post(f"{hub.url}/widget/session", json={}, headers=client)).status_code for hub in (a, b) * 4]
    assert minted == [200] * 6 + [429] * 2
