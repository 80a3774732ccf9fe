"""Two hub replicas on one PostgreSQL database never send the same webhook attempt: each runs a
``WebhookWorker`` (its own engine and connections), both claim the same due deliveries at the same
moment, and the receiver still gets every delivery exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import handoff
from hub.db import make_engine, make_sessionmaker, run_migrations, unit_of_work
from integrations import WebhookOptions, WebhookWorker, add_endpoint, verify, webhook_listener
from integrations.webhooks import delivery_attempts, list_deliveries
from tests.integrations.receiver import Receiver, now
from tests.support import pg_admin

CHATS = 40


async def test_two_replicas_send_each_delivery_once(receiver: Receiver) -> None:
    name = f"balcao_webhooks_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    engines = [make_engine(url), make_engine(url)]
    try:
        await asyncio.to_thread(run_migrations, url)
        # The changes a hub makes, through handoff, with the webhook listener attached as the app does.
        sessions = make_sessionmaker(engines[0], listeners=[webhook_listener(3)])
        path = f"/hooks/{uuid.uuid4().hex[:8]}"
        async with unit_of_work(sessions) as session:
            await handoff.create_team(session, "geral", name="Geral")
            endpoint = await add_endpoint(session, url=receiver.url(path), events=["conversation.queued"])
        for n in range(CHATS):
            async with unit_of_work(sessions) as session:
                chat = await handoff.start_conversation(session, channel="widget", customer_id=f"c{n}", language="pt-BR")
                await handoff.escalate_conversation(
                    session, chat.id, team_id="geral", priority=handoff.Priority.REQUEST, reason="request"
                )
        options = WebhookOptions(allow_private=True, batch=CHATS, timeout_s=5)
        replicas = [WebhookWorker(make_sessionmaker(engine), options) for engine in engines]
        sent = Counter[int]()
        while True:  # both claim at the same moment, round after round, until nothing is due
            counts = await asyncio.gather(*(r.dispatch() for r in replicas))
            for index, count in enumerate(counts):
                sent[index] += count
            if not any(counts):
                break
        got = receiver.at(path)
        ids = [r.headers["x-balcao-delivery"] for r in got]
        assert len(ids) == CHATS and len(set(ids)) == CHATS, Counter(ids).most_common(3)
        assert sum(sent.values()) == CHATS
        assert all(verify(endpoint.secret, r.body, r.headers["x-balcao-signature"], now=now()) for r in got)
        async with sessions() as session:
            deliveries = await list_deliveries(session, endpoint_id=endpoint.id, limit=1000)
            assert {d.status for d in deliveries} == {"delivered"} and len(deliveries) == CHATS
            for delivery in deliveries:
                assert [a.number for a in await delivery_attempts(session, delivery.id)] == [1]
        # Done deliveries leave the log once older than BALCAO_WEBHOOKS_KEEP_DAYS, not before.
        assert await WebhookWorker(sessions, WebhookOptions(keep_days=1)).prune() == 0
        assert await WebhookWorker(sessions, WebhookOptions(keep_days=0)).prune() == CHATS
        async with sessions() as session:
            assert await list_deliveries(session, endpoint_id=endpoint.id) == []
    finally:
        for engine in engines:
            await engine.dispose()
        await pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
