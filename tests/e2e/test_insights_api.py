"""The KPI API and exports are the supervisors'; follow-ups of detractors are the agents' to take."""

from __future__ import annotations

import contextlib
import csv
import io

import httpx
import pytest

from tests.support import AgentClient, RunningHub, WidgetCustomer

pytestmark = pytest.mark.rasa


@pytest.fixture
async def supervisor(hub: RunningHub) -> AgentClient:
    import asyncio

    from hub.operations import add_user

    with contextlib.suppress(ValueError):  # created by an earlier test
        await asyncio.to_thread(
            lambda: asyncio.run(
                add_user(hub.settings, email="vera@loja.test", name="Vera", role="admin", teams=[], password="vera-password-1")
            )
        )
    client = await AgentClient(hub.url, "vera@loja.test", "vera-password-1").login()
    yield client
    await client.aclose()


async def test_reports_need_a_supervisor_and_match_the_csv(hub: RunningHub, supervisor: AgentClient, agent: AgentClient) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (await anonymous.get("/api/insights/report")).status_code == 401
        assert (await anonymous.get("/dashboard", follow_redirects=False)).headers["location"] == "/login?next=/dashboard"
    assert (await agent.http.get("/api/insights/report")).status_code == 403
    assert (await agent.http.get("/dashboard")).status_code == 403

    report = (await supervisor.http.get("/api/insights/report")).json()
    summary = (await supervisor.http.get("/api/insights/export/summary.csv")).text
    rows = {(r["section"], r["measure"]): r["value"] for r in csv.DictReader(io.StringIO(summary))}
    assert rows[("totals", "conversations")] == str(report["totals"]["conversations"])
    assert (await supervisor.http.get("/api/insights/export/nonsense.csv")).status_code == 404
    assert (
        await supervisor.http.get("/api/insights/report", params={"from": "2026-03-10", "to": "2026-03-01"})
    ).status_code == 422
    schema = (await supervisor.http.get("/openapi.json")).json()
    assert "Report" in schema["components"]["schemas"] and "/api/insights/report" in schema["paths"]


async def test_a_detractor_becomes_a_follow_up_that_one_agent_takes_and_closes(
    hub: RunningHub, agent: AgentClient, supervisor: AgentClient
) -> None:
    nina = await WidgetCustomer(hub.url, "en").connect()
    await nina.say("hello")
    await nina.say("that's all, bye")
    await nina.say("2")
    await nina.say("nobody could help me")

    open_tasks = (await agent.http.get("/api/insights/follow-ups")).json()
    task = next(t for t in open_tasks if t["reason"] == "nobody could help me")
    assert (task["score"], task["team_id"], task["claimed_by"]) == (2, None, None)
    assert (await agent.http.post(f"/api/insights/follow-ups/{task['id']}/done", json={"outcome": "x"})).status_code == 409
    taken = await agent.http.post(f"/api/insights/follow-ups/{task['id']}/claim")
    assert taken.status_code == 200
    assert (await supervisor.http.post(f"/api/insights/follow-ups/{task['id']}/claim")).status_code == 409
    done = await agent.http.post(
        f"/api/insights/follow-ups/{task['id']}/done", json={"outcome": "Called her back; order resent."}
    )
    assert done.json()["done_at"] is not None
    assert task["id"] not in [t["id"] for t in (await agent.http.get("/api/insights/follow-ups")).json()]

    surveys = (await supervisor.http.get("/api/insights/export/surveys.csv", params={"language": "en"})).text
    assert "nobody could help me" in surveys
    await nina.close()


@pytest.fixture
def mailbox(hub: RunningHub):
    """A local SMTP server (aiosmtpd) the hub sends detractor alerts to, for this test only."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    from tests.support import free_port

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
            received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = hub.app.state.settings
    before = (settings.smtp_host, settings.smtp_port, settings.smtp_starttls, settings.smtp_to)
    settings.smtp_host, settings.smtp_port, settings.smtp_starttls = "127.0.0.1", controller.port, False
    settings.smtp_to = ["ops@loja.test"]
    yield received
    settings.smtp_host, settings.smtp_port, settings.smtp_starttls, settings.smtp_to = before
    controller.stop()


async def test_a_detractor_alert_is_emailed_to_the_supervisors(hub: RunningHub, supervisor: AgentClient, mailbox: list) -> None:
    import asyncio

    otto = await WidgetCustomer(hub.url, "en").connect()
    await otto.say("hello")
    await otto.say("that's all, bye")
    await otto.say("1")
    await otto.say("the <b>parcel</b> never came")
    for _ in range(100):  # the e-mail leaves after the commit, in the background
        if mailbox:
            break
        await asyncio.sleep(0.1)
    ((recipients, email),) = mailbox
    assert {"ops@loja.test", "vera@loja.test"} <= set(recipients)  # the extra address and the supervisors
    assert email["Subject"] == "Detractor: 1/10 on widget (bot only)"
    body = email.get_payload(decode=True).decode()
    assert "Reason: the <b>parcel</b> never came" in body and "follow-up" in body
    await otto.close()
