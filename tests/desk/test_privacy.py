"""A customer's data through a real hub (SQLite, then PostgreSQL): an admin exports it as one zip
with their messages and files, and erases it on request — afterwards no table holds their words,
name or numbers and their file is gone, while the dashboard shows the same numbers. Agents may do
neither; an erase request for nobody is refused with what to search by, changing nothing."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.db import make_engine
from tests.handoff.test_audit import logged_in
from tests.support import AgentClient, RunningHub, WidgetCustomer, queueing_hub

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
ADA = ("ada@loja.test", "ada-password-1", "admin", [])
PNG = b"\x89PNG\r\n\x1a\n" + b"receita-da-joana" * 4


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def privacy_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path
) -> Iterator[RunningHub]:
    """A hub whose Rasa never answers: a customer's first message queues the chat for `geral`."""
    with queueing_hub(
        request.param, tmp_path_factory.mktemp(f"privacy-{request.param}"), cache_dir=index_cache, staff=(ANA, ADA)
    ) as hub:
        yield hub


@pytest.fixture
async def ada(privacy_hub: RunningHub) -> AsyncIterator[AgentClient]:
    client = await logged_in(privacy_hub, ADA)
    yield client
    await client.aclose()


@pytest.fixture
async def ana(privacy_hub: RunningHub) -> AsyncIterator[AgentClient]:
    client = await logged_in(privacy_hub, ANA)
    yield client
    await client.aclose()


async def served_chat(hub: RunningHub, ana: AgentClient, words: str, *, file: bytes | None = None) -> tuple[str, str]:
    """A widget customer says ``words``; Ana takes the chat, answers (with ``file``) and closes it.
    Returns the conversation id and the customer id."""
    customer = await WidgetCustomer(hub.url).connect()
    try:
        await customer.say(words)
        queued = [c for c in await ana.queue() if c["customer_id"] == customer.customer_id]
        conversation_id = queued[0]["id"]
        assert (await ana.claim(conversation_id)).status_code == 200
        assert (await ana.reply(conversation_id, "Claro, vou verificar o seu pedido.")).status_code in (200, 201)
        if file is not None:
            assert (await ana.send_file(conversation_id, "receita-joana.png", file, "image/png")).status_code == 201
        assert (await ana.close(conversation_id)).status_code == 200
    finally:
        await customer.close()
    return conversation_id, customer.customer_id


async def every_text(url: str) -> str:
    """Every value of every column of every table of the hub's database, as one text."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            parts = []
            for name in names:
                rows = (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all()  # noqa: S608 - names from the schema itself
                parts += [repr(tuple(row)) for row in rows]
            return "\n".join(parts)
    finally:
        await engine.dispose()


async def dashboard(admin: AgentClient) -> dict:
    """The dashboard's numbers of the last week, and the live counters."""
    report = await admin.http.get("/api/insights/report")
    live = await admin.http.get("/api/insights/live")
    assert report.status_code == live.status_code == 200
    return {"report": report.json(), "live": live.json()}


async def test_an_admin_exports_and_erases_one_customer(privacy_hub: RunningHub, ada: AgentClient, ana: AgentClient) -> None:
    marker = secrets.token_hex(4)
    words = f"Sou a Joana Prudente {marker}, meu celular é +55 11 98765-{marker[:4]} e o CPF 123.456.789-{marker[:2]}"
    joana_chat, joana_id = await served_chat(privacy_hub, ana, words, file=PNG)
    other_words = f"Outro cliente {secrets.token_hex(4)} pergunta do frete"
    await served_chat(privacy_hub, ana, other_words)

    exported = await ada.http.get("/api/admin/privacy/export", params={"customer": joana_id})
    assert exported.status_code == 200, exported.text
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    document = json.loads(archive.read("customer.json"))
    [conversation] = document["conversations"]
    texts = [m["text"] for m in conversation["messages"]]
    assert words in texts and "Claro, vou verificar o seu pedido." in texts
    assert other_words not in json.dumps(document)
    [attachment] = [a for m in conversation["messages"] for a in m["attachments"]]
    assert archive.read(f"files/{attachment['media_id']}") == PNG

    before = await dashboard(ada)
    erased = await ada.http.post("/api/admin/privacy/erase", json={"customer": joana_chat})
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"] == 1 and erased.json()["files"] == 1

    stored = await every_text(privacy_hub.settings.database_url)
    assert other_words in stored  # the scan reads the customer's words where they are
    # The phone as she wrote it (its first digits alone are also a timestamp's microseconds now and then).
    for trace in (words, marker, joana_id, "Joana", "receita-joana", f"98765-{marker[:4]}"):
        assert trace not in stored, trace
    assert not (privacy_hub.settings.media_dir / attachment["media_id"]).exists()
    assert await dashboard(ada) == before

    audit = (await ada.http.get("/api/admin/audit", params={"limit": 50})).json()
    actions = [e["action"] for e in audit["entries"]]
    assert "customer_export" in actions and "customer_erase" in actions

    gone = await ada.http.get("/api/admin/privacy/export", params={"customer": joana_id})
    assert gone.status_code == 404


async def test_an_erase_request_for_nobody_is_refused_and_changes_nothing(privacy_hub: RunningHub, ada: AgentClient) -> None:
    before = await every_text(privacy_hub.settings.database_url)
    refused = await ada.http.post("/api/admin/privacy/erase", json={"customer": "+5511900000000"})
    assert refused.status_code == 404
    assert "phone number" in refused.json()["detail"]
    assert await every_text(privacy_hub.settings.database_url) == before


async def test_agents_may_neither_export_nor_erase(privacy_hub: RunningHub, ana: AgentClient) -> None:
    assert (await ana.http.get("/api/admin/privacy/export", params={"customer": "x"})).status_code == 403
    assert (await ana.http.post("/api/admin/privacy/erase", json={"customer": "x"})).status_code == 403
    assert (await ana.http.put("/api/admin/privacy/retention", json={"days": 30})).status_code == 403
