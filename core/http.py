"""HTTP clients of a hub (benchmarks, tests, tools) that survive the hub closing an idle connection.

A server closes a keep-alive connection it has not seen a request on for a while (the hub after
``BALCAO_KEEP_ALIVE_S``, a load balancer after its own timeout). A client that sends its next
request on that connection at the same moment gets ``RemoteProtocolError: Server disconnected
without sending a response``. The request never reached the application, so an idempotent one is
safe to send again, once, on a fresh connection; anything else is left to the caller.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["IDEMPOTENT_METHODS", "ReconnectingTransport", "hub_client"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Below the hub's default keep-alive (BALCAO_KEEP_ALIVE_S): the client drops an idle connection
# before the server does, so the race above needs a server configured shorter than this.
CLIENT_KEEPALIVE_EXPIRY_S = 4.0


class ReconnectingTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncHTTPTransport`` that sends an idempotent request once more when the server
    closed the connection without answering it."""

    def __init__(self, **kwargs: Any) -> None:
        self._inner = httpx.AsyncHTTPTransport(**kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; on a connection the server had closed, send an idempotent one again."""
        try:
            return await self._inner.handle_async_request(request)
        except httpx.RemoteProtocolError:
            if request.method not in IDEMPOTENT_METHODS:
                raise
            # The dead connection has left the pool: this attempt opens (or reuses) a live one.
            return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


def hub_client(*, limits: httpx.Limits | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for talking to a hub: idle connections expire before the hub's,
    and an idempotent request on a connection closed meanwhile is sent again once.

    Takes ``httpx.AsyncClient``'s keyword arguments (``base_url``, ``timeout``…); proxies from the
    environment are ignored (the hub is reached directly)."""
    limits = limits or httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY_S)
    kwargs.setdefault("trust_env", False)
    return httpx.AsyncClient(transport=ReconnectingTransport(limits=limits), **kwargs)
