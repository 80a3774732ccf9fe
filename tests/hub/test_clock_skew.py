"""A hub replica whose clock runs two minutes ahead (a host whose NTP stopped) must not send a
customer's Telegram replies twice. The skew is real: replica B is a separate `balcao serve`
process under libfaketime (Debian's ``faketime`` package: ``LD_PRELOAD`` with ``FAKETIME=+2m``),
so every clock read in it — Python's, asyncpg's, uvicorn's — is two minutes ahead; replica A runs
in this process on the true time. Both share one PostgreSQL database and send from one outbox.

Without a shared clock, B reads A's one-minute leases on the rows A is sending as already expired,
takes them and sends them again. The outbox reads leases and due times by the database's clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from hub.settings import ROOT
from tests.channel_fakes import FakeTelegram, wait_for
from tests.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN
from tests.hub.test_faults import one_article_kb
from tests.support import RunningHub, free_port, hub_settings, pg_admin, start_hub, wait_until

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not FAKETIME.exists(), reason="needs libfaketime (apt-get install faketime)"),
]


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, index_cache: Path, fake_telegram: FakeTelegram
) -> Iterator[tuple[RunningHub, str]]:
    """Replica A (in this process) and the URL of replica B (two minutes ahead), one database."""
    tmp = tmp_path_factory.mktemp("skew")
    name = f"balcao_skew_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    telegram = dict(
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET,
        telegram_api_url=f"{fake_telegram.url}/bot",
        outbox_backoff_s=0.05,
    )
    try:
        a = start_hub(
            hub_settings(
                tmp,
                cache_dir=index_cache,
                database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
                rasa_timeout_s=0.5,
                rasa_attempts=1,
                kb_dir=one_article_kb(tmp),
                **telegram,
            )
        )
    except BaseException:
        asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))
        raise
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")},
        "PYTHONPATH": str(ROOT),
        **{f"BALCAO_{k.upper()}": str(v) for k, v in telegram.items()},
        "BALCAO_ENVIRONMENT": "test",
        "BALCAO_DATABASE_URL": a.settings.database_url,
        "BALCAO_PORT": str(port),
        "BALCAO_RASA_URL": "http://127.0.0.1:1",
        "BALCAO_RASA_TIMEOUT_S": "0.5",
        "BALCAO_RASA_ATTEMPTS": "1",
        "BALCAO_SECRETS_FILE": str(a.settings.secrets_file),
        "BALCAO_INDEX_DIR": str(index_cache),
        "BALCAO_MEDIA_DIR": str(tmp / "media-b"),
        "BALCAO_INACTIVITY_SECONDS": "3600",
        "BALCAO_KB_DIR": str(a.settings.kb_dir),
        "LD_PRELOAD": str(FAKETIME),
        "FAKETIME": "+2m",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and sleeps keep their length; the wall clock is ahead
    }
    b = subprocess.Popen(
        [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main(['serve']))"],
        cwd=ROOT,
        env=env,
        stdout=(tmp / "b.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def b_ready() -> bool:
            assert b.poll() is None, (tmp / "b.log").read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            return False

        wait_until(b_ready, 300, "replica B")
        yield a, f"http://127.0.0.1:{port}"
    finally:
        if b.poll() is None:
            os.killpg(b.pid, signal.SIGTERM)
            try:
                b.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(b.pid, signal.SIGKILL)
                b.wait()
        a.stop()
        asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def outbox_rows(hub: RunningHub, customer_id: str) -> dict[str, int]:
    """How many of the customer's outbox rows are in each status."""
    from connectors import outbox

    async def read() -> dict[str, int]:
        async with hub.app.state.desk.sessions() as session:
            rows = await outbox.customer_outbox(session, channel="telegram", customer_id=customer_id)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    return hub.call(read)


def unsent(hub: RunningHub, customer_id: str) -> int:
    rows = outbox_rows(hub, customer_id)
    return rows.get("pending", 0) + rows.get("sending", 0)


def update_from(user: int, text: str) -> dict:
    person = {"id": user, "is_bot": False, "first_name": "Rosa", "language_code": "pt-br"}
    chat = {"id": user, "type": "private", "first_name": "Rosa"}
    return {"update_id": user, "message": {"message_id": 1, "date": 1_800_000_000, "chat": chat, "from": person, "text": text}}


async def test_a_replica_two_minutes_ahead_never_sends_a_telegram_reply_twice(
    replicas: tuple[RunningHub, str], fake_telegram: FakeTelegram
) -> None:
    a, b_url = replicas
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        dates = [parsedate_to_datetime((await client.get(f"{url}/healthz")).headers["date"]) for url in (a.url, b_url)]
        assert (dates[1] - dates[0]).total_seconds() > 100  # B's clock really is two minutes ahead

        # Telegram answers slowly (3 s a message, within the client's wait): A's sends are in flight
        # long enough for B's worker, which looks every few seconds, to find the rows A holds.
        fake_telegram.delay_s = 3.0
        try:
            users = [7_900_000 + uuid.uuid4().int % 90_000 + n for n in range(3)]
            headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
            answers = await asyncio.gather(
                *(
                    client.post(f"{a.url}/webhooks/telegram", json=update_from(u, "o meu pedido não chegou"), headers=headers)
                    for u in users
                )
            )
            assert [r.status_code for r in answers] == [200] * len(users)
            for user in users:
                await wait_for(lambda user=user: unsent(a, f"tg-{user}") == 0, "every reply sent", 120)
            await asyncio.sleep(fake_telegram.delay_s + 6)  # a send B might have started meanwhile has landed
        finally:
            fake_telegram.delay_s = 0.0

    for user in users:
        texts = [m["text"] for m in fake_telegram.messages_to(user)]
        sent = outbox_rows(a, f"tg-{user}").get("sent", 0)
        assert sent > 0, "the customer was answered"
        assert len(texts) == sent, f"{len(texts)} messages reached the customer for {sent} replies: {texts}"
