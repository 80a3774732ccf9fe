"""Failed staff logins: per account (e-mail) and per client address, a few attempts, then each
further one waits longer (``Lockouts``, or ``RedisLockouts`` shared by every replica); above that,
each process's budget of password checks (``LoginThrottle.checks``), so a flood from many addresses
and accounts cannot take the desk's CPU. The client address is the rate limits' (trusted proxies)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import HTTPConnection

from connectors.ratelimit import MAX_KEY_CHARS, MAX_KEYS, RateLimits, TokenBucket

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)


class Lockout(Protocol):
    """What ``LoginThrottle`` needs of a store of attempts: ``take`` one (0 = go ahead, counted),
    or say how many seconds the key stays locked; ``give_back`` one that turned out right;
    ``clear`` a key."""

    async def take(self, key: str) -> float: ...

    async def give_back(self, key: str) -> None: ...

    async def clear(self, key: str) -> None: ...


def lock_seconds(attempts: int, *, allowed: int, lock_s: float, max_lock_s: float) -> float:
    """How long a key is locked once ``attempts`` (not given back) were made: from the
    ``allowed``-th on, ``lock_s``, doubled by each attempt after it, at most ``max_lock_s``."""
    if attempts < allowed:
        return 0.0
    return min(max_lock_s, lock_s * 2.0 ** min(attempts - allowed, 40))


class Lockouts:
    """Attempts per key, counted before each attempt is checked (so attempts made at once cannot
    slip past the count) and given back when one turns out right: ``allowed`` of them, then the key
    is locked (``lock_seconds``). A count is forgotten ``forget_s`` after its last attempt. In-process."""

    def __init__(self, allowed: int, lock_s: float, max_lock_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.lock_s = lock_s
        self.max_lock_s = max_lock_s
        self.forget_s = 2 * max_lock_s
        self.clock = clock
        self._keys: dict[str, tuple[int, float, float]] = {}  # key → (attempts, last attempt, locked until)

    def _state(self, key: str, now: float) -> tuple[int, float, float]:
        attempts, at, until = self._keys.get(key, (0, now, now))
        if now - at > self.forget_s:
            return (0, now, now)
        return attempts, at, until

    async def take(self, key: str) -> float:
        """Count an attempt for ``key``; or, while it is locked, the seconds left (nothing counted)."""
        now = self.clock()
        attempts, _, until = self._state(key, now)
        if until > now:
            return until - now
        attempts += 1
        self._keys[key] = (attempts, now, now + self._lock(attempts))
        if len(self._keys) > MAX_KEYS:
            self._forget_oldest()
        return 0.0

    async def give_back(self, key: str) -> None:
        """An attempt for ``key`` was right: it no longer counts (nor locks, if it alone did)."""
        now = self.clock()
        attempts, at, until = self._state(key, now)
        attempts = max(0, attempts - 1)
        self._keys[key] = (attempts, at, until if attempts >= self.allowed else now)

    async def clear(self, key: str) -> None:
        """Forget ``key``'s attempts and lock."""
        self._keys.pop(key, None)

    def _lock(self, attempts: int) -> float:
        return lock_seconds(attempts, allowed=self.allowed, lock_s=self.lock_s, max_lock_s=self.max_lock_s)

    def _forget_oldest(self) -> None:
        for key, _ in sorted(self._keys.items(), key=lambda item: item[1][1])[: len(self._keys) // 10]:
            del self._keys[key]


# KEYS[1] counts the attempts, KEYS[2] exists (with an expiry) while the key is locked.
_TAKE_ATTEMPT = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then
  return left
end
local attempts = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
local allowed = tonumber(ARGV[1])
if attempts >= allowed then
  local ms = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ math.min(attempts - allowed, 40))
  redis.call('SET', KEYS[2], attempts, 'PX', math.max(1, math.floor(ms)))
end
return 0
"""
_GIVE_BACK = """
local attempts = tonumber(redis.call('GET', KEYS[1]) or '0')
if attempts > 0 then
  attempts = redis.call('DECR', KEYS[1])
end
if attempts < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
end
return attempts
"""


class RedisLockouts:
    """The same counts as ``Lockouts``, in Redis under ``{prefix}:{key}`` (and ``…:lock``), shared
    by every replica; each operation is one atomic script. If Redis cannot be reached, logins are let
    through (and it is logged), as the customer limits are."""

    def __init__(self, redis: Redis, allowed: int, lock_s: float, max_lock_s: float, *, prefix: str) -> None:
        self.redis = redis
        self.allowed = allowed
        self.prefix = prefix
        self._args = [allowed, int(lock_s * 1000), int(max_lock_s * 1000), max(1, math.ceil(2 * max_lock_s))]
        self._take = redis.register_script(_TAKE_ATTEMPT)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._warned_at = 0.0

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:{key}", f"{self.prefix}:{key}:lock"]

    def _warn(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            logger.warning("login throttling is off: Redis did not answer (%s)", exc)

    async def take(self, key: str) -> float:
        """Count an attempt for ``key``; or, while it is locked, the seconds left."""
        from redis.exceptions import RedisError

        try:
            return int(await self._take(keys=self._keys(key), args=self._args)) / 1000.0
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return 0.0

    async def give_back(self, key: str) -> None:
        """An attempt for ``key`` was right: it no longer counts (nor locks, if it alone did)."""
        from redis.exceptions import RedisError

        try:
            await self._give_back(keys=self._keys(key), args=[self.allowed])
        except (RedisError, OSError) as exc:
            self._warn(exc)

    async def clear(self, key: str) -> None:
        """Forget ``key``'s attempts and lock."""
        from redis.exceptions import RedisError

        try:
            await self.redis.delete(*self._keys(key))
        except (RedisError, OSError) as exc:
            self._warn(exc)


@dataclass(frozen=True)
class LoginWait:
    """Why a login must wait, and for how long (``Retry-After``)."""

    seconds: int
    busy: bool = False  # this hub's password checks are all taken (not this account's or address's fault)


CHECKS = "password-checks"  # the one key of the per-process budget of password checks


@dataclass
class LoginThrottle:
    """Failed staff logins, per account (e-mail) and per client address: a few attempts, then each
    further one waits longer (``Lockouts``). A right password clears the account's count and gives
    back the address's attempt; wrong ones keep counting. Above that, ``checks`` is this process's
    budget of password checks (argon2 costs a core ~20 ms each): past it, a login waits a moment
    whoever sends it, so a flood from many addresses and accounts cannot take the desk's CPU."""

    accounts: Lockout
    ips: Lockout
    limits: RateLimits  # whose ``client_ip`` (trusted proxies) names the address
    checks: TokenBucket

    def client_ip(self, connection: HTTPConnection) -> str:
        """The client's address, as the rate limits see it."""
        return (self.limits.client_ip(connection) or "unknown")[:MAX_KEY_CHARS]

    @staticmethod
    def _account(email: str) -> str:
        return email.strip().lower()[:MAX_KEY_CHARS]

    async def attempt(self, *, ip: str, email: str) -> LoginWait | None:
        """Count a login attempt before its password is checked: ``None`` to go ahead, or how long
        the client must wait, when the address or the account is locked or the checks are all taken
        (then nothing is counted: the password was not checked)."""
        account = self._account(email)
        wait = await self.ips.take(ip)
        if not wait:
            wait = await self.accounts.take(account)
            if wait:  # refused for the account: not an attempt of the address's
                await self.ips.give_back(ip)
        if wait:
            return LoginWait(math.ceil(wait))
        if not self.checks.allow(CHECKS):
            await self.ips.give_back(ip)
            await self.accounts.give_back(account)
            return LoginWait(max(1, math.ceil(1 / self.checks.rate_s)), busy=True)
        return None

    async def succeeded(self, *, ip: str, email: str) -> None:
        """The password was right: the account starts afresh, the address gets its attempt back."""
        await self.accounts.clear(self._account(email))
        await self.ips.give_back(ip)


def build_login_throttle(
    limits: RateLimits,
    *,
    account_attempts: int,
    ip_attempts: int,
    lock_s: float,
    max_lock_s: float,
    checks_per_second: float,
    checks_burst: int,
    redis: Redis | None = None,
    redis_prefix: str = "balcao",
) -> LoginThrottle:
    """The login throttle: its counts in this process, or in Redis (the rate limits' client) when
    given; the budget of password checks is always this process's own (it guards this CPU)."""
    checks = TokenBucket(checks_per_second * 60, checks_burst)
    if redis is None:
        return LoginThrottle(
            Lockouts(account_attempts, lock_s, max_lock_s), Lockouts(ip_attempts, lock_s, max_lock_s), limits, checks
        )
    return LoginThrottle(
        RedisLockouts(redis, account_attempts, lock_s, max_lock_s, prefix=f"{redis_prefix}:login:account"),
        RedisLockouts(redis, ip_attempts, lock_s, max_lock_s, prefix=f"{redis_prefix}:login:ip"),
        limits,
        checks,
    )
