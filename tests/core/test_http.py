"""A hub's clients survive a server that closes an idle keep-alive connection as it is reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from core.http import hub_client

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class ClosingServer:
    """Answers the first request of each connection and keeps it open; a second request on the same
    connection is read and then dropped without an answer, as a server whose keep-alive timeout
    fired just as the client reused the connection does."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = False
        while request := await reader.readuntil(b"\r\n\r\n"):
            self.requests.append(request.split(b" ", 2)[0].decode())
            if answered:
                break
            writer.write(OK)
            await writer.drain()
            answered = True
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[ClosingServer, str]]:
    closing = ClosingServer()
    listener = await asyncio.start_server(closing.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    yield closing, f"http://127.0.0.1:{port}"
    listener.close()


async def test_a_get_on_a_connection_the_server_closed_is_sent_again(server: tuple[ClosingServer, str]) -> None:
    closing, url = server
    async with hub_client(base_url=url) as client:
        assert (await client.get("/api/agent/queue")).status_code == 200
        assert (await client.get("/api/agent/queue")).status_code == 200  # reused, dropped, sent again
    assert closing.requests == ["GET", "GET", "GET"]


async def test_a_plain_client_fails_there_and_a_post_is_not_repeated(server: tuple[ClosingServer, str]) -> None:
    closing, url = server
    async with httpx.AsyncClient(base_url=url) as plain:
        await plain.get("/")
        with pytest.raises(httpx.RemoteProtocolError):
            await plain.get("/")
    async with hub_client(base_url=url) as client:
        await client.get("/")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/api/agent/conversations/c1/claim")  # it may have been applied: the caller decides
    assert closing.requests == ["GET", "GET", "GET", "POST"]
