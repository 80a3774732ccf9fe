"""The retention policy (SQLite and PostgreSQL): conversations older than the admin's period lose
their words, names, numbers and files but keep their counts, times and scores; newer ones are left
alone; a second pass changes nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
import insights
from core.models import utcnow
from desk.privacy import InvalidRetention, anonymise_expired, retention_days, set_retention
from handoff.audit import CLI
from handoff.models import Message
from hub.cli import main
from hub.db import run_migrations
from insights.models import ConversationSummary
from tests.handoff.conftest import sessions  # noqa: F401 - a fixture
from tests.support import hub_settings

SUMMARY_NUMBERS = [c.name for c in ConversationSummary.__table__.columns if c.name != "reason"]


async def chat(sessions: async_sessionmaker[AsyncSession], customer_id: str, name: str, words: str, score: int) -> str:
    """A Telegram customer's conversation the bot answered, surveyed and given a reason."""
    async with sessions() as session, session.begin():
        conversation = await handoff.start_conversation(
            session, channel="telegram", customer_id=customer_id, language="pt-BR", customer_name=name
        )
        await handoff.record_message(session, conversation, sender="customer", text=words, channel_message_id=f"m-{customer_id}")
        await handoff.record_message(
            session, conversation, sender="bot", text="O prazo é de 3 dias úteis.", data={"kb": "answer"}
        )
        await insights.open_survey(
            session, conversation.id, channel="telegram", language="pt-BR", ending="resolved", team_id=None, agent_id=None
        )
        await insights.answer_survey(session, conversation.id, score)
        await insights.record_reason(session, conversation.id, f"{name} gostou")
        return conversation.id


async def tables(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    async with sessions() as session:
        conn = await session.connection()
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        return {
            name: sorted(repr(tuple(r)) for r in (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all())  # noqa: S608 - names from the schema
            for name in names
        }


async def numbers(sessions: async_sessionmaker[AsyncSession], conversation_id: str) -> tuple:
    async with sessions() as session:
        columns = [getattr(ConversationSummary, c) for c in SUMMARY_NUMBERS]
        row = (await session.execute(sa.select(*columns).where(ConversationSummary.conversation_id == conversation_id))).one()
        messages = await session.scalar(sa.select(sa.func.count()).where(Message.conversation_id == conversation_id))
        return (*row, messages)


async def test_the_retention_pass_anonymises_old_conversations_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    old = await chat(sessions, "tg-4242", "Joana Prudente", "meu telefone é +55 11 98765-4321", 4)
    await asyncio.sleep(0.05)
    cutoff = utcnow()
    await asyncio.sleep(0.05)
    new = await chat(sessions, "tg-5353", "Rui Vasconcelos", "onde está a encomenda 777?", 9)
    old_numbers = await numbers(sessions, old)

    async with sessions() as session, session.begin():
        done = await anonymise_expired(session, before=cutoff)
    assert done.conversations == [old] and done.messages == 2

    stored = "\n".join(row for rows in (await tables(sessions)).values() for row in rows)
    for trace in ("Joana", "Prudente", "tg-4242", "98765-4321", "m-tg-4242"):  # the phone whole: a timestamp can hold 98765
        assert trace not in stored, trace
    for kept in ("Rui Vasconcelos", "tg-5353", "encomenda 777"):
        assert kept in stored, kept
    assert await numbers(sessions, old) == old_numbers
    assert (await numbers(sessions, new))[SUMMARY_NUMBERS.index("score")] == 9

    before = await tables(sessions)
    async with sessions() as session, session.begin():
        again = await anonymise_expired(session, before=cutoff)
    assert again.conversations == [] and again.media_ids == []
    assert await tables(sessions) == before


async def test_admins_set_the_retention_period(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await retention_days(session) is None  # nothing expires until an admin says so
    async with sessions() as session, session.begin():
        await set_retention(session, 180, actor=CLI)
    async with sessions() as session, session.begin():
        assert await retention_days(session) == 180
        for wrong in (0, -3, 100_000):
            with pytest.raises(InvalidRetention, match="whole number of days"):
                await set_retention(session, wrong, actor=CLI)
        await set_retention(session, None, actor=CLI)
    async with sessions() as session:
        assert await retention_days(session) is None


def test_the_privacy_commands(
    tmp_path: Path, index_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = hub_settings(tmp_path, cache_dir=index_cache)
    run_migrations(settings.database_url)
    monkeypatch.setattr("hub.cli.get_settings", lambda: settings)

    assert main(["privacy", "retention"]) == 0
    assert "every conversation is kept" in capsys.readouterr().out
    assert main(["privacy", "retention", "--days", "365"]) == 0
    assert "older than 365 days are anonymised" in capsys.readouterr().out
    assert main(["privacy", "retention", "--days", "0"]) == 1
    assert "whole number of days" in capsys.readouterr().err
    assert main(["privacy", "run-retention"]) == 0
    assert json.loads(capsys.readouterr().out) == {"days": 365, "conversations": 0, "messages": 0, "files": 0}

    assert main(["privacy", "erase", "+5511900000000", "--yes"]) == 1
    assert "no customer or conversation matches" in capsys.readouterr().err
    assert main(["privacy", "erase", "+5511900000000"]) == 1
    assert "--yes" in capsys.readouterr().err
    assert main(["privacy", "export", "tg-1", "--out", str(tmp_path / "x.zip")]) == 1
    assert not (tmp_path / "x.zip").exists()
