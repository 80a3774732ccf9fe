"""A hub whose Rasa never answers (a customer's first message queues the chat), with an admin and
an agent, for the integration API and webhook tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from core.http import hub_client
from tests.integrations.receiver import Receiver
from tests.support import RunningHub, queueing_hub

ADMIN = ("ines@loja.test", "ines-password-1")
AGENT = ("caio@loja.test", "caio-password-1")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """Webhooks may go to 127.0.0.1 (the tests' receiver), retried after 0.2 s, 0.4 s…"""
    staff = [(ADMIN[0], ADMIN[1], "admin", ["geral"]), (AGENT[0], AGENT[1], "agent", ["geral"])]
    with queueing_hub(
        "sqlite",
        tmp_path_factory.mktemp("integrations"),
        cache_dir=index_cache,
        staff=staff,
        encoder="bm25",  # these tests never ask the knowledge base: no encoder to load
        webhooks_allow_private=True,
        webhooks_backoff_s=0.2,
        webhooks_poll_s=0.1,
        webhooks_timeout_s=2.0,
        webhooks_max_attempts=3,
    ) as hub:
        yield hub


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (tests.integrations.receiver)."""
    server = Receiver().start()
    yield server
    server.stop()


async def logged_in(hub: RunningHub, email: str, password: str) -> httpx.AsyncClient:
    """A staff member's client, logged in, with the CSRF header every change needs."""
    client = hub_client(base_url=hub.url, timeout=30)
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


@pytest.fixture
async def admin(desk: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    client = await logged_in(desk, *ADMIN)
    yield client
    await client.aclose()


@pytest.fixture
async def agent(desk: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    client = await logged_in(desk, *AGENT)
    yield client
    await client.aclose()
