"""Small security helpers every package may use."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from itsdangerous import TimestampSigner

__all__ = ["allowed_origin", "hmac_sha256_hex", "same_secret", "timestamp_signer"]


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` equals ``expected``, in time that does not depend on where they differ.

    Both are compared as UTF-8 bytes: ``hmac.compare_digest`` raises ``TypeError`` on ``str``
    holding non-ASCII characters, and a header or query parameter may hold any of them (Starlette
    decodes headers as Latin-1), which must be a refusal, not a 500."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def hmac_sha256_hex(secret: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` with ``secret`` (both UTF-8), in lowercase hex: what another
    system computes to sign something for the desk (compare it with ``same_secret``)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def timestamp_signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """An itsdangerous ``TimestampSigner`` reading the time from ``clock``: tokens signed with it
    carry that time, and their age is measured against it (tests issue tokens in the past)."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockSigner


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL or an ``Origin`` header; ``None`` when it is not one."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:  # a port that is not a number
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_origin(origin: str | None, *, public_url: str, port: int) -> bool:
    """Whether a browser page from ``origin`` (its ``Origin`` header) may use the staff's
    WebSocket: only the desk's own pages, at ``public_url``. While that is a loopback address (a
    desk on one machine), the hub's own ``port`` on any loopback name (localhost, 127.0.0.1, ::1)
    counts too. Without an ``Origin`` the client is not a browser (no other site's page can make
    it send the staff's cookie), so it is let through."""
    if origin is None:
        return True
    given, public = _origin(origin), _origin(public_url)
    if given is None or public is None:
        return False
    if given == public:
        return True
    return _is_loopback(public[1]) and given[0] == public[0] and _is_loopback(given[1]) and given[2] == port
