"""A customer's data (LGPD): export and erasure time for one customer with 10,000 messages (SQLite
and PostgreSQL), and the retention pass's speed on PostgreSQL.

The history is generated (seeded) and bulk-loaded into freshly migrated databases, with the KPI
summaries rebuilt from it as ``balcao insights rebuild`` does: one customer with ``--messages``
messages in conversations of 50 messages and ``--files`` stored files, among other customers; for
the retention pass, ``--conversations`` conversations of 4 messages each, all older than the
policy. Timed through the same functions the admin's API runs: ``collect_customer_data`` +
``write_archive`` (the zip, files included), ``erase_customer`` + commit + ``remove_files``, and
``run_retention`` (batches of 500, one transaction each) over every conversation.

Run ``.venv/bin/python bench/privacy.py`` (``--conversations 1000000`` for the issue's million; the
default is smaller so that a run takes minutes on a 2-core machine); it writes
``bench/results/privacy.json``. The PostgreSQL databases are created for the run and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.media import MediaStore
from core.models import utcnow
from desk.privacy import erase_customer, find_customer, remove_files, run_retention, set_retention
from desk.privacy_export import collect_customer_data, write_archive
from handoff.audit import CLI
from handoff.models import Conversation, Message
from hub.db import make_engine, make_sessionmaker, run_migrations, unit_of_work
from insights.rebuild import rebuild_summaries

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40_000
CUSTOMER = "wa-+5511987650000"


async def load(
    sessions: async_sessionmaker[AsyncSession],
    *,
    customer: str,
    conversations: int,
    per: int,
    age_days: int,
    media: MediaStore | None,
    files: int,
) -> None:
    """``conversations`` conversations of ``per`` messages of ``customer`` (``None``: one customer
    each), started ``age_days`` ago; the first ``files`` customer messages carry a stored file."""
    start = utcnow() - timedelta(days=age_days)
    batch = 2_000
    files_left = files
    for first in range(0, conversations, batch):
        convs, msgs = [], []
        for n in range(first, min(first + batch, conversations)):
            cid = uuid.uuid4().hex
            at = start + timedelta(seconds=n)
            who = customer or f"wa-+55119{n:08d}"
            convs.append(
                {
                    "id": cid,
                    "channel": "whatsapp",
                    "customer_id": who,
                    "customer_name": "Cliente Teste",
                    "language": "pt-BR",
                    "state": "ended",
                    "created_at": at,
                    "last_message_at": at,
                    "ended_at": at + timedelta(minutes=5),
                }
            )
            for k in range(per):
                data = None
                if media is not None and files_left > 0 and k % 2 == 0:
                    stored = media.save(PNG, mime="image/png", name="foto.png")
                    data, files_left = {"attachments": [stored.as_attachment()]}, files_left - 1
                elif k % 2:
                    data = {"kb": "answer"}
                msgs.append(
                    {
                        "conversation_id": cid,
                        "sender": "customer" if k % 2 == 0 else "bot",
                        "text": f"mensagem {k} do pedido 12345, CPF 123.456.789-00",
                        "data": data,
                        "channel": "whatsapp",
                        "created_at": at + timedelta(seconds=k),
                    }
                )
        async with unit_of_work(sessions) as session:
            await session.execute(insert(Conversation), convs)
            await session.execute(insert(Message), msgs)
    async with unit_of_work(sessions) as session:
        await rebuild_summaries(session)


async def one_customer(url: str, media: MediaStore, *, messages: int, files: int) -> dict:
    """Export and erasure times for one customer with ``messages`` messages."""
    await asyncio.to_thread(run_migrations, url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        await load(sessions, customer="", conversations=2_000, per=4, age_days=1, media=None, files=0)
        await load(sessions, customer=CUSTOMER, conversations=messages // 50, per=50, age_days=1, media=media, files=files)
        t0 = time.perf_counter()
        async with sessions() as session:
            data = await collect_customer_data(session, await find_customer(session, CUSTOMER))
        archive = await asyncio.to_thread(write_archive, data, media)
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        async with unit_of_work(sessions) as session:
            done = await erase_customer(session, await find_customer(session, CUSTOMER), actor=CLI)
        removed = await remove_files(media, done.media_ids)
        erase_s = time.perf_counter() - t0
        return {
            "messages": done.messages,
            "files": removed,
            "archive_bytes": len(archive),
            "export_s": round(export_s, 3),
            "erase_s": round(erase_s, 3),
        }
    finally:
        await engine.dispose()


async def retention_pass(url: str, media: MediaStore, *, conversations: int) -> dict:
    """One retention pass over ``conversations`` expired conversations (4 messages each)."""
    await asyncio.to_thread(run_migrations, url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        t0 = time.perf_counter()
        await load(sessions, customer="", conversations=conversations, per=4, age_days=400, media=None, files=0)
        load_s = time.perf_counter() - t0
        # A live database has its statistics (autovacuum keeps them); one bulk-loaded a moment ago
        # has none, and the planner would then read 4 messages per conversation by scanning them all.
        async with engine.begin() as connection:  # committed: statistics an ANALYZE rolled back are lost
            await connection.execute(text("ANALYZE"))
        async with unit_of_work(sessions) as session:
            await set_retention(session, 365, actor=CLI)
        t0 = time.perf_counter()
        run = await run_retention(lambda: unit_of_work(sessions), media, actor=CLI)
        pass_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = await run_retention(lambda: unit_of_work(sessions), media, actor=CLI)
        return {
            "conversations": run.conversations,
            "messages": run.messages,
            "load_s": round(load_s, 1),
            "pass_s": round(pass_s, 2),
            "conversations_per_s": round(run.conversations / pass_s),
            "messages_per_s": round(run.messages / pass_s),
            "second_pass_conversations": again.conversations,
            "second_pass_s": round(time.perf_counter() - t0, 3),
        }
    finally:
        await engine.dispose()


async def on_postgresql(task: Callable[..., Awaitable[dict]], *args: object, **kwargs: object) -> dict:
    """``task`` on a PostgreSQL database created for it and dropped after."""
    name = f"balcao_bench_privacy_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        return await task(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", *args, **kwargs)
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="the customer's messages (default: 10000)")
    parser.add_argument("--files", type=int, default=20, help="the customer's stored files (default: 20)")
    parser.add_argument("--conversations", type=int, default=100_000, help="expired conversations of the retention pass")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "privacy.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        media = MediaStore(Path(tmp) / "media", "bench-only-secret", public_url="http://127.0.0.1")
        sqlite = await one_customer(f"sqlite+aiosqlite:///{tmp}/privacy.db", media, messages=args.messages, files=args.files)
        postgresql = await on_postgresql(one_customer, media, messages=args.messages, files=args.files)
        retention = await on_postgresql(retention_pass, media, conversations=args.conversations)
    result = {
        "date": utcnow().date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other work",
        "one_customer": {"sqlite": sqlite, "postgresql": postgresql},
        "retention_postgresql": retention,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
