"""The admin pages over HTTP, as a browser's forms post them: only admins reach them (others get
403, nobody is sent to log in), bad input is a 4xx whose page says what to correct with nothing
changed, and every change is in the audit log. The same changes through the JSON API."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

import handoff
from hub.operations import add_user
from tests.support import RunningHub, hub_settings, start_hub

ADMIN = ("ada@loja.test", "ada-password-1")
_ips = (f"203.0.113.{n}" for n in itertools.count(1))  # documentation addresses: one per client
WEEKDAYS = {
    f"{edge}_{day}": time
    for day in ("mon", "tue", "wed", "thu", "fri")
    for edge, time in (("opens", "09:00"), ("closes", "17:00"))
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("admin-pages")
    # Lexical search only: these tests never ask the knowledge base, and encoding it would only slow the start.
    settings = hub_settings(tmp, cache_dir=index_cache, trusted_proxies=["127.0.0.1"], rasa_attempts=1, encoder="bm25")
    hub = start_hub(settings)
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Ada", role="admin", teams=[], password=ADMIN[1]))
    yield hub
    hub.stop()


@asynccontextmanager
async def logged_in(hub: RunningHub, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser logged in by the API, holding the session's CSRF token in ``csrf``."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30, headers={"X-Forwarded-For": next(_ips)}) as client:
        r = await client.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield client


@pytest.fixture
async def admin(desk: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(desk, *ADMIN) as client:
        yield client


async def new_account(hub: RunningHub, role: str = "agent", teams: list[str] | None = None) -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@loja.test"
    password = f"pw-{uuid.uuid4().hex}"
    await add_user(hub.settings, email=email, name=f"Pessoa {email[:10]}", role=role, teams=teams or [], password=password)
    return email, password


def form(client: httpx.AsyncClient, **fields: object) -> dict:
    """A form as the page posts it: with the session's CSRF token, in Brazilian Portuguese."""
    return {"csrf_token": client.headers["X-CSRF-Token"], "lang": "pt-BR", **fields}


def team_form(client: httpx.AsyncClient, team_id: str, **changes: object) -> dict:
    fields = {"id": team_id, "name": f"Time {team_id}", "timezone": "America/Recife", "sla_seconds": "90", "sla_target": "80",
              "assignment": "pick", "holidays": "2026-12-25", **WEEKDAYS}  # fmt: skip
    return form(client, **{**fields, **changes})


def alert(page: str) -> str:
    """The refusal a page shows (its role=alert paragraph), as text."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert found, "the page shows no refusal"
    return found.group(1)


async def audit(client: httpx.AsyncClient, action: str) -> list[dict]:
    r = await client.get("/api/admin/audit", params={"action": action})
    return r.json()["entries"]


async def teams(client: httpx.AsyncClient) -> dict[str, dict]:
    return {t["id"]: t for t in (await client.get("/api/admin/teams")).json()}


async def test_only_admins_reach_the_admin_pages(desk: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as nobody:
        r = await nobody.get("/admin/teams")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/teams"
    for role in ("agent", "supervisor", "editor"):
        async with logged_in(desk, *await new_account(desk, role)) as client:
            for path in ("/admin/teams", "/admin/people"):
                assert (await client.get(path)).status_code == 403
            assert (await client.post("/admin/teams", data=team_form(client, f"x{role}"))).status_code == 403
            assert (await client.post("/api/admin/teams", json={"id": f"y{role}", "name": "Y"})).status_code == 403
            assert (await client.get("/account")).status_code == 200  # their own account page
    async with logged_in(desk, *ADMIN) as client:
        assert f"x{role}" not in await teams(client)


async def test_an_admin_creates_a_team_and_it_is_audited(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    ids = await admin.get("/api/admin/users")
    agent_id = next(u["id"] for u in ids.json() if u["email"] == ADMIN[0])
    r = await admin.post("/admin/teams", data=team_form(admin, "vendas", members=str(agent_id)))
    assert r.status_code == 303
    page = (await admin.get(r.headers["location"])).text
    assert "Time vendas criado." in page
    team = (await teams(admin))["vendas"]
    assert team["hours"]["mon"] == ["09:00", "17:00"] and "sat" not in team["hours"]
    assert (team["timezone"], team["sla_seconds"], team["sla_target"], team["members"]) == ("America/Recife", 90, 0.8, [agent_id])
    entry = (await audit(admin, "team_add"))[0]
    assert (entry["actor"], entry["target_id"], entry["details"]["members"]) == (ADMIN[0], "vendas", [agent_id])


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [
        ({"timezone": "Marte/Olimpo"}, 422, "O fuso horário “Marte/Olimpo” não existe"),
        ({"opens_tue": "18:00", "closes_tue": "08:00"}, 422, "terça: a abertura precisa ser antes do fechamento"),
        ({"opens_wed": "09:00", "closes_wed": ""}, 422, "quarta: informe a abertura e o fechamento"),
        ({"holidays": "25/12/2026"}, 422, "O feriado “25/12/2026” não é uma data"),
        ({"sla_target": "0"}, 422, "de 1 a 100"),
        ({"sla_seconds": "muito"}, 422, "número inteiro de segundos"),
        ({"sla_seconds": "99999999999"}, 422, "número inteiro de segundos"),  # more than the database stores
        ({"sla_seconds": "²"}, 422, "número inteiro de segundos"),
        ({"claim_answer_seconds": "-30"}, 422, "responder uma conversa assumida"),
        ({"id": "Time Novo!"}, 422, "não serve como identificador"),
        ({"id": "geral"}, 409, "Já existe um time com o identificador “geral”"),
    ],
)
async def test_a_refused_team_says_why_and_changes_nothing(
    admin: httpx.AsyncClient, changes: dict, status: int, says: str
) -> None:
    before = await teams(admin)
    r = await admin.post("/admin/teams", data=team_form(admin, "suporte-vip", **changes))
    assert r.status_code == status
    assert says in alert(r.text)
    assert 'value="suporte-vip"' in r.text or changes.get("id")  # what was typed is still in the form
    assert await teams(admin) == before


async def test_a_form_without_the_sessions_token_is_refused(admin: httpx.AsyncClient) -> None:
    data = team_form(admin, "sem-token")
    del data["csrf_token"]
    assert (await admin.post("/admin/teams", data=data)).status_code == 403
    assert "sem-token" not in await teams(admin)


async def test_editing_a_team_renames_it_and_records_what_changed(admin: httpx.AsyncClient) -> None:
    await admin.post("/admin/teams", data=team_form(admin, "trocas"))
    r = await admin.post("/admin/teams/trocas", data=team_form(admin, "trocas", name="Trocas e devoluções", always_open="1"))
    assert r.status_code == 303
    team = (await teams(admin))["trocas"]
    assert (team["name"], team["hours"]) == ("Trocas e devoluções", None)
    changed = (await audit(admin, "team_change"))[0]["details"]["changed"]
    assert changed["name"] == ["Time trocas", "Trocas e devoluções"] and changed["hours"][1] is None
    refused = await admin.post("/admin/teams/trocas", data=team_form(admin, "trocas", name="Outro", timezone="Lua/Base"))
    assert refused.status_code == 422 and (await teams(admin))["trocas"]["name"] == "Trocas e devoluções"


async def test_a_team_gets_a_time_to_answer_claimed_chats_and_can_turn_it_off(admin: httpx.AsyncClient) -> None:
    await admin.post("/admin/teams", data=team_form(admin, "pos-venda"))
    assert (await teams(admin))["pos-venda"]["claim_answer_seconds"] is None  # off unless an admin sets it
    r = await admin.post("/admin/teams/pos-venda", data=team_form(admin, "pos-venda", claim_answer_seconds="120"))
    assert r.status_code == 303
    assert (await teams(admin))["pos-venda"]["claim_answer_seconds"] == 120
    assert (await audit(admin, "team_change"))[0]["details"]["changed"]["claim_answer_seconds"] == [None, 120]
    page = (await admin.get("/admin/teams?edit=pos-venda")).text
    assert 'name="claim_answer_seconds" type="number" min="0" value="120"' in page
    r = await admin.post("/admin/teams/pos-venda", data=team_form(admin, "pos-venda", claim_answer_seconds=""))
    assert r.status_code == 303 and (await teams(admin))["pos-venda"]["claim_answer_seconds"] is None
    refused = await admin.put("/api/admin/teams/pos-venda", json={"claim_answer_seconds": -1})
    assert refused.status_code == 422 and "0 for never" in refused.json()["detail"]
    api = await admin.put("/api/admin/teams/pos-venda", json={"claim_answer_seconds": 45})
    assert (api.status_code, api.json()["claim_answer_seconds"]) == (200, 45)


async def queued_chat(hub: RunningHub, team: str) -> str:
    """A widget customer's chat handed by the bot to ``team``'s queue (through handoff's functions)."""

    async def make() -> str:
        async with hub.app.state.desk.unit_of_work() as session:
            chat = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language="pt-BR")
            await handoff.escalate_conversation(
                session, chat.id, team_id=team, priority=handoff.Priority.REQUEST, reason="customer_request"
            )
            return chat.id

    return hub.call(make)


async def test_archiving_a_team_moves_its_queue_and_later_chats(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    await admin.post("/admin/teams", data=team_form(admin, "garantia"))
    waiting = await queued_chat(desk, "garantia")
    refused = await admin.post("/admin/teams/garantia/archive", data=form(admin, move_to="garantia"))
    assert refused.status_code == 422 and "Escolha outro time, ativo" in alert(refused.text)
    r = await admin.post("/admin/teams/garantia/archive", data=form(admin, move_to="tecnico"))
    assert r.status_code == 303
    assert "Time garantia arquivado; 1 conversa(s) movida(s)." in (await admin.get(r.headers["location"])).text
    detail = (await admin.get(f"/api/agent/conversations/{waiting}")).json()["conversation"]
    assert (detail["state"], detail["team_id"]) == ("queued", "tecnico")
    later = await queued_chat(desk, "garantia")  # an article still naming the old team
    assert (await admin.get(f"/api/agent/conversations/{later}")).json()["conversation"]["team_id"] == "tecnico"
    assert (await teams(admin))["garantia"]["archived"] is True
    console = (await admin.get("/console")).text
    assert 'value="garantia"' not in console  # no longer a transfer target
    assert "<option>garantia</option>" not in (await admin.get("/kb")).text  # nor an article's team
    assert "<option>tecnico</option>" in (await admin.get("/kb")).text
    entry = (await audit(admin, "team_archive"))[0]
    assert entry["details"] == {"moved_to": "tecnico", "chats_moved": 1}


async def test_a_team_articles_use_is_archived_not_deleted(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/admin/teams/logistica/delete", data=form(admin))
    assert r.status_code == 409
    says = alert(r.text)
    assert "Artigos ainda passam clientes para este time" in says and "prazo-de-entrega" in says
    assert "logistica" in await teams(admin)
    api = await admin.delete("/api/admin/teams/logistica")
    assert api.status_code == 409 and "archive it instead" in api.json()["detail"]
    await admin.post("/admin/teams", data=team_form(admin, "engano"))
    assert (await admin.post("/admin/teams/engano/delete", data=form(admin))).status_code == 303
    assert "engano" not in await teams(admin)
    assert (await audit(admin, "team_delete"))[0]["target_id"] == "engano"


async def test_the_json_api_refuses_bad_teams_with_a_reason(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/api/admin/teams", json={"id": "api-team", "name": "API", "timezone": "Nowhere/City"})
    assert r.status_code == 422 and "unknown time zone" in r.json()["detail"]
    assert (await admin.post("/api/admin/teams", json={"id": "geral", "name": "Geral 2"})).status_code == 409
    hours = {"mon": ["20:00", "08:00"]}
    r = await admin.post("/api/admin/teams", json={"id": "api-team", "name": "API", "hours": hours})
    assert r.status_code == 422 and "must be before closing" in r.json()["detail"]
    r = await admin.post("/api/admin/teams", json={"id": "api-team", "name": "API"})
    assert r.status_code == 201 and r.json()["hours"] is None
    r = await admin.post("/api/admin/teams/api-team/archive", json={"move_to": "nenhum"})
    assert r.status_code == 422
    r = await admin.post("/api/admin/users", json={"email": "sem-nome@loja.test", "name": "   "})
    assert r.status_code == 422 and "display name" in r.json()["detail"]
    r = await admin.post("/api/admin/users", json={"email": "sem-time@loja.test", "name": "Téo", "teams": ["nenhum"]})
    assert r.status_code == 422 and "unknown team(s): nenhum" in r.json()["detail"]
    r = await admin.post("/api/admin/users", json={"email": "com-nome@loja.test", "name": "Téo", "teams": ["api-team"]})
    assert r.status_code == 201 and r.json()["user"]["must_change_password"] is True and len(r.json()["password"]) >= 12


async def test_an_admin_adds_a_person_whose_one_time_password_works_once(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    email = f"nova-{uuid.uuid4().hex[:6]}@loja.test"
    r = await admin.post(
        "/admin/people", data=form(admin, email=email, name="Nora Lima", role="agent", teams=["geral", "tecnico"])
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    password = re.search(r'<output id="one-time-password"[^>]*>([^<]+)</output>', r.text).group(1)  # type: ignore[union-attr]  # asserted by the test failing
    assert "Senha provisória de Nora Lima" in r.text
    again = await admin.get("/admin/people")
    assert password not in again.text  # shown once
    async with logged_in(desk, email, password) as newcomer:
        assert (await newcomer.get("/api/me")).json()["must_change_password"] is True
        assert (await newcomer.get("/api/agent/queue")).status_code == 403  # until they choose their own
    entry = (await audit(admin, "user_add"))[0]
    assert entry["details"] == {"email": email, "name": "Nora Lima", "role": "agent", "teams": ["geral", "tecnico"]}
    assert password not in str(entry)
    dup = await admin.post("/admin/people", data=form(admin, email=email.upper(), name="Outra", role="agent"))
    assert dup.status_code == 409 and f"Já existe uma pessoa com o e-mail {email}" in alert(dup.text)
    bad = await admin.post("/admin/people", data=form(admin, email="sem-arroba", name="X", role="agent"))
    assert bad.status_code == 422 and "Informe um e-mail" in alert(bad.text)
    bad = await admin.post("/admin/people", data=form(admin, email="r@loja.test", name="X", role="chefe"))
    assert bad.status_code == 422 and "Escolha um dos papéis" in alert(bad.text)


async def user_id(client: httpx.AsyncClient, email: str) -> int:
    return next(u["id"] for u in (await client.get("/api/admin/users")).json() if u["email"] == email)


async def test_deactivating_someone_ends_their_sessions_and_requeues_their_chats(
    admin: httpx.AsyncClient, desk: RunningHub
) -> None:
    account = await new_account(desk, "agent", ["geral"])
    chat = await queued_chat(desk, "geral")
    async with logged_in(desk, *account) as agent:
        assert (await agent.post(f"/api/agent/conversations/{chat}/claim")).status_code == 200
        uid = await user_id(admin, account[0])
        r = await admin.post(f"/admin/people/{uid}/deactivate", data=form(admin))
        assert r.status_code == 303
        assert "conversa(s) de volta à fila" in (await admin.get(r.headers["location"])).text
        assert (await agent.get("/api/agent/queue")).status_code == 401
    detail = (await admin.get(f"/api/agent/conversations/{chat}")).json()["conversation"]
    assert (detail["state"], detail["agent_id"]) == ("queued", None)
    assert (await audit(admin, "user_change"))[0]["details"] == {"active": False, "chats_requeued": 1}


async def test_the_last_admin_cannot_be_demoted_or_deactivated(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    me = await user_id(admin, ADMIN[0])
    others = [u for u in (await admin.get("/api/admin/users")).json() if u["role"] == "admin" and u["active"] and u["id"] != me]
    for other in others:  # this test's desk has one admin
        await admin.post(f"/api/admin/users/{other['id']}/deactivate")
    r = await admin.post(f"/admin/people/{me}/role", data=form(admin, role="agent"))
    assert r.status_code == 409 and "última pessoa administradora ativa" in alert(r.text)
    r = await admin.post(f"/admin/people/{me}/deactivate", data=form(admin, lang="en"))
    assert r.status_code == 409 and "last active admin: make someone else an admin first" in alert(r.text)
    assert (await admin.get("/api/me")).json()["role"] == "admin"


async def test_an_admin_resets_a_password_changes_a_role_teams_and_name(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    account = await new_account(desk, "agent", ["geral"])
    uid = await user_id(admin, account[0])
    r = await admin.post(f"/admin/people/{uid}/password", data=form(admin))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    password = re.search(r'<output id="one-time-password"[^>]*>([^<]+)</output>', r.text).group(1)  # type: ignore[union-attr]  # asserted by the test failing
    async with logged_in(desk, account[0], password) as agent:
        assert (await agent.get("/api/me")).json()["must_change_password"] is True
    assert (await admin.post(f"/admin/people/{uid}/role", data=form(admin, role="supervisor"))).status_code == 303
    assert (await admin.post(f"/admin/people/{uid}/teams", data=form(admin, teams=["financeiro"]))).status_code == 303
    assert (await admin.post(f"/admin/people/{uid}/name", data=form(admin, name="  Bia   Souza "))).status_code == 303
    person = next(u for u in (await admin.get("/api/admin/users")).json() if u["id"] == uid)
    assert (person["role"], person["name"]) == ("supervisor", "Bia Souza")
    assert uid in (await teams(admin))["financeiro"]["members"] and uid not in (await teams(admin))["geral"]["members"]
    details = [e["details"] for e in (await audit(admin, "user_change"))[:4]]
    assert details == [{"name": "Bia Souza"}, {"teams": ["financeiro"]}, {"role": "supervisor"}, {"password": "reset"}]
    r = await admin.post(f"/admin/people/{uid}/teams", data=form(admin, teams=["nao-existe"]))
    assert r.status_code == 422 and "O time “nao-existe” não existe" in alert(r.text)
    assert (await admin.post("/admin/people/99999999999/role", data=form(admin, role="agent"))).status_code == 422
    assert (await admin.post("/admin/people/999999/role", data=form(admin, role="agent"))).status_code == 404


async def test_every_user_changes_their_own_display_name(desk: RunningHub) -> None:
    account = await new_account(desk, "agent", ["geral"])
    async with logged_in(desk, *account) as agent:
        r = await agent.post("/account", data=form(agent, name="Caio do Suporte"))
        assert r.status_code == 303
        assert "Nome salvo: Caio do Suporte." in (await agent.get(r.headers["location"])).text
        assert (await agent.get("/api/me")).json()["name"] == "Caio do Suporte"
        r = await agent.post("/account", data=form(agent, name="   ", lang="pt-PT"))
        assert r.status_code == 422 and "O nome tem de ter de 1 a 120 caracteres." in alert(r.text)  # pt-PT
        assert (await agent.get("/api/me")).json()["name"] == "Caio do Suporte"
    async with logged_in(desk, *ADMIN) as admin:
        entry = (await audit(admin, "user_change"))[0]
        assert (entry["actor"], entry["details"]) == (account[0], {"name": "Caio do Suporte"})


async def test_the_pages_speak_the_readers_language(admin: httpx.AsyncClient) -> None:
    from handoff.admin_texts import TEXTS

    assert set(TEXTS["en"]) == set(TEXTS["pt-BR"]) == set(TEXTS["pt-PT"])  # every sentence in every language
    portugal = await admin.get("/admin/teams", headers={"Accept-Language": "pt-PT,pt;q=0.9,en;q=0.5"})
    assert "<h1>Equipas</h1>" in portugal.text and 'lang="pt-PT"' in portugal.text
    brazil = await admin.get("/admin/people", headers={"Accept-Language": "pt"})
    assert "<h1>Pessoas</h1>" in brazil.text and "Adicionar pessoa" in brazil.text
    english = await admin.get("/admin/teams?lang=en", headers={"Accept-Language": "pt-BR"})
    assert "<h1>Teams</h1>" in english.text and "Create team" in english.text
