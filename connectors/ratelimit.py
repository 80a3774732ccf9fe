"""Limits on customer input, per customer (their conversation) and per client address: token
buckets, in the process or, when several replicas run, in Redis (one bucket per key for all of
them). Over the limit, the widget gets a polite error frame, a widget token is not minted (429), and
the webhooks answer 429 before anything is stored (Telegram then delivers the update again later).

The client address is the socket's peer, unless that peer is one of the trusted proxies: then it
is the nearest address of ``X-Forwarded-For`` that is not a trusted proxy."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

TOO_FAST = {
    "pt-BR": "Você está enviando mensagens rápido demais. Aguarde alguns segundos e tente de novo, por favor.",
    "pt-PT": "Está a enviar mensagens demasiado depressa. Aguarde uns segundos e tente de novo, por favor.",
    "en": "You are sending messages too quickly. Please wait a few seconds and try again.",
}
MAX_KEYS = 50_000  # beyond this many buckets, the full (idle) ones are forgotten
MAX_KEY_CHARS = 200
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Bucket(Protocol):
    """What ``RateLimits`` needs of a bucket: take a token for a key, or say there is none."""

    async def take(self, key: str) -> bool: ...


class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute`` a minute; each message takes one. In-process."""

    def __init__(self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_s = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when counted)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate_s)

    def allow(self, key: str) -> bool:
        """Take a token for ``key``; ``False`` (nothing taken) when its bucket is empty."""
        now = self.clock()
        tokens = self._level(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_KEYS:
            self._forget_idle(now)
        return True

    async def take(self, key: str) -> bool:
        """``allow``, as the ``Bucket`` protocol has it."""
        return self.allow(key)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.burst]:
            del self._buckets[key]


# One round trip, atomic: refill by the time elapsed (Redis's own clock, the same for every
# replica), take a token if there is one, and let an idle bucket expire once it would be full.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return allowed
"""
MAX_IDLE_S = 86_400  # a bucket untouched this long is forgotten, whatever its rate


class RedisTokenBucket:
    """The same bucket as ``TokenBucket``, kept in Redis under ``{prefix}:{key}`` so every replica
    takes from it. If Redis cannot be reached, customers are let through (and it is logged): a
    broken limiter must not silence the desk."""

    def __init__(self, redis: Redis, per_minute: float, burst: int, *, prefix: str) -> None:
        self.redis = redis
        self.rate_s = per_minute / 60.0
        self.burst = float(burst)
        self.prefix = prefix
        refill_s = burst / self.rate_s if self.rate_s > 0 else MAX_IDLE_S
        self._idle_s = max(1, min(MAX_IDLE_S, math.ceil(refill_s) + 1))
        self._script = redis.register_script(_TAKE)
        self._warned_at = 0.0

    async def take(self, key: str) -> bool:
        """Take a token for ``key`` from the shared bucket."""
        from redis.exceptions import RedisError

        try:
            return bool(await self._script(keys=[f"{self.prefix}:{key}"], args=[self.rate_s, self.burst, self._idle_s]))
        except (RedisError, OSError) as exc:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                logger.warning("rate limits are off: Redis did not answer (%s)", exc)
            return True


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """IPs and CIDRs (``10.0.0.5``, ``10.1.0.0/16``, ``::1``) as networks."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: ``peer`` (the socket's), unless it is a trusted proxy; then the
    nearest ``X-Forwarded-For`` hop (read from the right) that is not a trusted proxy. A client can
    write anything to the left of what the proxies appended, so nothing further left is read."""
    if not peer or not trusted:
        return peer

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    if not is_trusted(_address(peer)):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        client = hop[:100]
        if not is_trusted(_address(hop)):
            break
    return client


@dataclass
class RateLimits:
    """The hub's limits on customer input: one bucket per customer, one per client address."""

    customer: Bucket
    ip: Bucket
    trusted_proxies: tuple[Network, ...] = field(default=())

    def client_ip(self, connection: HTTPConnection) -> str | None:
        """The address of the client of a request or WebSocket (see ``client_address``)."""
        peer = connection.client.host if connection.client else None
        return client_address(peer, connection.headers.getlist("x-forwarded-for"), self.trusted_proxies)

    async def allow(self, *, ip: str | None = None, customer: str | None = None) -> bool:
        """Whether this message may be handled. The IP's bucket is checked first, so a flood from
        one address does not drain the buckets of the customers it names."""
        if ip and not await self.ip.take(ip[:MAX_KEY_CHARS]):
            return False
        return not customer or await self.customer.take(customer[:MAX_KEY_CHARS])

    @staticmethod
    def too_fast(language: str) -> str:
        """The polite sentence for a customer over the limit."""
        return TOO_FAST.get(language, TOO_FAST["pt-BR"])


def build_rate_limits(
    *,
    customer_per_minute: float,
    customer_burst: int,
    ip_per_minute: float,
    ip_burst: int,
    trusted_proxies: Iterable[str] = (),
    redis_url: str = "",
    redis_prefix: str = "balcao",
) -> tuple[RateLimits, Redis | None]:
    """The hub's limits: in this process, or shared through Redis when ``redis_url`` is set (then
    the Redis client is returned too, for the caller to close)."""
    trusted = parse_networks(trusted_proxies)
    if not redis_url:
        return RateLimits(TokenBucket(customer_per_minute, customer_burst), TokenBucket(ip_per_minute, ip_burst), trusted), None
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    limits = RateLimits(
        RedisTokenBucket(redis, customer_per_minute, customer_burst, prefix=f"{redis_prefix}:rate:customer"),
        RedisTokenBucket(redis, ip_per_minute, ip_burst, prefix=f"{redis_prefix}:rate:ip"),
        trusted,
    )
    return limits, redis
