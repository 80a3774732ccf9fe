"""Limits on customer input, per customer (their conversation) and per client IP: small in-process
token buckets. Over the limit, the widget gets a polite error frame and the webhooks answer 429
before anything is stored (Telegram then delivers the update again later)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TOO_FAST = {
    "pt-BR": "Você está enviando mensagens rápido demais. Aguarde alguns segundos e tente de novo, por favor.",
    "pt-PT": "Está a enviar mensagens demasiado depressa. Aguarde uns segundos e tente de novo, por favor.",
    "en": "You are sending messages too quickly. Please wait a few seconds and try again.",
}
MAX_KEYS = 50_000  # beyond this many buckets, the full (idle) ones are forgotten


class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute`` a minute; each message takes one."""

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

    def _forget_idle(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.burst]:
            del self._buckets[key]


@dataclass
class RateLimits:
    """The hub's limits on customer input: one bucket per customer, one per client IP."""

    customer: TokenBucket
    ip: TokenBucket

    def allow(self, *, ip: str | None = None, customer: str | None = None) -> bool:
        """Whether this message may be handled. The IP's bucket is checked first, so a flood from
        one address does not drain the buckets of the customers it names."""
        if ip and not self.ip.allow(ip):
            return False
        return not customer or self.customer.allow(customer)

    @staticmethod
    def too_fast(language: str) -> str:
        """The polite sentence for a customer over the limit."""
        return TOO_FAST.get(language, TOO_FAST["pt-BR"])
