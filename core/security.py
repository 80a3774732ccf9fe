"""Small security helpers every package may use."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from itsdangerous import TimestampSigner

__all__ = ["same_secret", "timestamp_signer"]


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` equals ``expected``, in time that does not depend on where they differ.

    Both are compared as UTF-8 bytes: ``hmac.compare_digest`` raises ``TypeError`` on ``str``
    holding non-ASCII characters, and a header or query parameter may hold any of them (Starlette
    decodes headers as Latin-1), which must be a refusal, not a 500."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def timestamp_signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """An itsdangerous ``TimestampSigner`` reading the time from ``clock``: tokens signed with it
    carry that time, and their age is measured against it (tests issue tokens in the past)."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockSigner
