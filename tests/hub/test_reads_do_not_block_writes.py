"""Reads never hold up the desk's writes: a `balcao kb search` loading the index beside a live
hub, or any long read, leaves logins and customers' messages prompt (SQLite begins every writing
transaction IMMEDIATE, so a read that took the write lock used to stall them for its whole length)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hub.cli import search
from kb_index.index import KnowledgeIndex
from tests.support import RunningHub, WidgetCustomer, queueing_hub

ANA = ("ana@loja.test", "ana-password-1")
HELD_S = 300.0  # the longest the read goes on: it ends once the login and the message are through


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A live hub (its Rasa never answers: a customer's message is stored, then queued)."""
    tmp = tmp_path_factory.mktemp(f"reads-{request.param}")
    with queueing_hub(request.param, tmp, cache_dir=index_cache, staff=[(*ANA, "agent", ["geral"])]) as hub:
        yield hub


async def log_in(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as client:
        r = await client.post("/api/auth/login", json={"email": ANA[0], "password": ANA[1]})
        assert r.status_code == 200, r.text
        assert (await client.get("/api/agent/queue")).status_code == 200  # current_user, then a read


async def send_a_message(hub: RunningHub) -> None:
    customer = await WidgetCustomer(hub.url).connect()
    turn = await customer.say("oi, alguém aí?", timeout_s=60)
    await customer.close()
    assert turn[-1]["type"] == "ack"


async def test_a_kb_search_loading_the_index_does_not_hold_up_the_desk(
    live_hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    loading, release = threading.Event(), threading.Event()
    upsert = KnowledgeIndex.upsert

    def slow_upsert(self: KnowledgeIndex, articles: list) -> None:
        loading.set()
        release.wait(HELD_S)  # encoding a large knowledge base: until the desk has been used beside it
        upsert(self, articles)

    monkeypatch.setattr(KnowledgeIndex, "upsert", slow_upsert)
    cli = threading.Thread(target=lambda: asyncio.run(search(live_hub.settings, "qual o prazo de entrega?", "pt-BR")))
    cli.start()
    try:
        assert await asyncio.to_thread(loading.wait, 60)
        await log_in(live_hub)
        await send_a_message(live_hub)
        assert cli.is_alive() and not release.is_set()  # both were served while the index was still loading
    finally:
        release.set()
        await asyncio.to_thread(cli.join, 60)


async def test_a_long_read_session_does_not_hold_up_logins_or_messages(live_hub: RunningHub) -> None:
    reading, release = threading.Event(), asyncio.Event()

    async def long_read() -> None:
        async with live_hub.app.state.read_sessions() as session:
            await session.execute(text("SELECT count(*) FROM conversations"))
            reading.set()
            with contextlib.suppress(TimeoutError):  # e.g. a report over a year of conversations
                await asyncio.wait_for(release.wait(), HELD_S)

    held = asyncio.run_coroutine_threadsafe(long_read(), live_hub.app.state.loop)
    try:
        assert await asyncio.to_thread(reading.wait, 30)
        await log_in(live_hub)
        await send_a_message(live_hub)
        assert not held.done()  # the read was still open all along
    finally:
        live_hub.app.state.loop.call_soon_threadsafe(release.set)
        await asyncio.to_thread(held.result, 60)
