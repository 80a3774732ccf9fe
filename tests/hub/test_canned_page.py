"""The canned responses page over HTTP, as its forms post them: an admin or a supervisor adds,
edits and removes replies (each change in the audit log); an agent reads the page but cannot
change anything (403); bad input is refused with a message saying what to correct and nothing
changed. The console's list ("/") holds everyone's replies and the agent's own team's only."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.operations import add_user
from tests.hub.test_admin_pages import alert, form, logged_in
from tests.support import RunningHub, hub_settings, start_hub

ADMIN = ("cida@loja.test", "cida-password-1")
SUPERVISOR = ("sol@loja.test", "sol-password-1")
AGENT = ("caio@loja.test", "caio-password-1")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("canned-page")
    hub = start_hub(hub_settings(tmp, cache_dir=index_cache, trusted_proxies=["127.0.0.1"], rasa_attempts=1, encoder="bm25"))
    for (email, password), role, teams in ((ADMIN, "admin", []), (SUPERVISOR, "supervisor", []), (AGENT, "agent", ["logistica"])):
        asyncio.run(
            add_user(hub.settings, email=email, name=email.split("@")[0].title(), role=role, teams=teams, password=password)
        )
    yield hub
    hub.stop()


def shortcut() -> str:
    return f"troca-{uuid.uuid4().hex[:6]}"


async def audit_actions(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/api/admin/audit", params={"limit": 50})
    r.raise_for_status()
    return [e["action"] for e in r.json()["entries"]]


async def test_an_admin_adds_edits_and_removes_a_reply_with_each_change_audited(desk: RunningHub) -> None:
    key = shortcut()
    async with logged_in(desk, *ADMIN) as admin:
        text = "Olá, {customer_name}! A troca de tamanho é grátis em 30 dias."
        r = await admin.post(
            "/admin/canned", data=form(admin, shortcut=f"/{key.upper()}", reply_lang="pt-BR", team="logistica", text=text)
        )
        assert r.status_code == 303
        page = (await admin.get(r.headers["location"])).text
        assert f"Resposta /{key} adicionada." in page
        assert f"<code>/{key}</code>" in page  # stored lowercased, without its "/"

        # The search finds it by a word of its text, accents ignored; another word does not.
        found = (await admin.get("/admin/canned", params={"q": "gratis", "lang": "pt-BR"})).text
        assert f"/{key}" in found
        assert f"/{key}" not in (await admin.get("/admin/canned", params={"q": "reembolso"})).text

        canned_id = next(c["id"] for c in await replies(admin, "pt-BR") if c["shortcut"] == key)
        r = await admin.post(
            f"/admin/canned/{canned_id}", data=form(admin, shortcut=key, reply_lang="pt-BR", team="", text="Troca feita!")
        )
        assert r.status_code == 303
        assert "Troca feita!" in (await admin.get("/admin/canned", params={"q": key})).text

        r = await admin.post(f"/admin/canned/{canned_id}/delete", data=form(admin))
        assert r.status_code == 303
        assert f"/{key}" not in (await admin.get("/admin/canned")).text
        assert (await audit_actions(admin))[:3] == ["canned_delete", "canned_change", "canned_add"]


async def replies(client: httpx.AsyncClient, lang: str) -> list[dict]:
    """The replies the page lists, read from its edit links (id) and shortcuts."""
    page = (await client.get("/admin/canned", params={"in": lang})).text
    return [
        {"id": int(m.group(2)), "shortcut": m.group(1)}
        for m in re.finditer(r"<code>/([a-z0-9_-]+)</code>.*?/admin/canned\?edit=(\d+)", page, re.S)
    ]


async def test_a_supervisor_may_change_replies_and_an_agent_only_read_them(desk: RunningHub) -> None:
    key = shortcut()
    async with logged_in(desk, *SUPERVISOR) as supervisor:
        r = await supervisor.post(
            "/admin/canned", data=form(supervisor, shortcut=key, reply_lang="pt-BR", text="Vou verificar a troca.")
        )
        assert r.status_code == 303
    async with logged_in(desk, *AGENT) as agent:
        page = await agent.get("/admin/canned")
        assert page.status_code == 200 and f"/{key}" in page.text
        assert 'action="/admin/canned"' not in page.text.replace('method="get" action="/admin/canned"', "")  # no form to change
        r = await agent.post("/admin/canned", data=form(agent, shortcut=shortcut(), reply_lang="pt-BR", text="Oi"))
        assert r.status_code == 403
        async with logged_in(desk, *ADMIN) as admin:
            canned_id = next(c["id"] for c in await replies(admin, "pt-BR") if c["shortcut"] == key)
        assert (await agent.post(f"/admin/canned/{canned_id}/delete", data=form(agent))).status_code == 403
        assert f"/{key}" in (await agent.get("/admin/canned")).text  # still there


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"shortcut": "Troca Tamanho", "text": "Oi"}, 422, "O atalho usa só letras minúsculas"),
        ({"shortcut": "ok-{key}", "text": "   "}, 422, "O texto precisa ter de 1 a 2000 caracteres."),
        ({"shortcut": "ok-{key}", "text": "x" * 2001}, 422, "O texto precisa ter de 1 a 2000 caracteres."),
        ({"shortcut": "ok-{key}", "text": "Oi", "reply_lang": "fr"}, 422, "Escolha um dos idiomas da lista."),
        ({"shortcut": "ok-{key}", "text": "Oi", "team": "nenhum"}, 422, "O time “nenhum” não existe"),
        ({"shortcut": "aguarde", "text": "Oi"}, 409, "Já existe /aguarde em pt-BR"),
    ],
)
async def test_bad_input_is_refused_with_what_to_correct_and_nothing_added(
    desk: RunningHub, fields: dict, status: int, says: str
) -> None:
    key = uuid.uuid4().hex[:6]
    fields = {"reply_lang": "pt-BR", **fields, "shortcut": fields["shortcut"].format(key=key)}
    async with logged_in(desk, *ADMIN) as admin:
        before = (await admin.get("/admin/canned")).text.count("<code>/")
        r = await admin.post("/admin/canned", data=form(admin, **fields))
        assert r.status_code == status
        assert says in html.unescape(alert(r.text))
        assert (await admin.get("/admin/canned")).text.count("<code>/") == before


async def test_editing_a_reply_that_is_gone_says_so(desk: RunningHub) -> None:
    async with logged_in(desk, *ADMIN) as admin:
        r = await admin.post("/admin/canned/999999", data=form(admin, shortcut="x", reply_lang="pt-BR", text="Oi"))
        assert r.status_code == 404
        assert "Esta resposta pronta não existe mais" in alert(r.text)


async def test_the_console_lists_everyones_replies_and_the_agents_teams_only(desk: RunningHub) -> None:
    ours, theirs, everyones = shortcut(), shortcut(), shortcut()
    async with logged_in(desk, *ADMIN) as admin:
        for key, team in ((ours, "logistica"), (theirs, "financeiro"), (everyones, "")):
            r = await admin.post(
                "/admin/canned", data=form(admin, shortcut=key, reply_lang="pt-BR", team=team, text="Sobre a troca")
            )
            assert r.status_code == 303
    async with logged_in(desk, *AGENT) as agent:
        listed = {c["shortcut"] for c in (await agent.get("/api/agent/canned", params={"lang": "pt-BR"})).json()}
        assert {ours, everyones} <= listed and theirs not in listed
        # Asking for another team's replies (a chat the agent may not see) changes nothing.
        listed = {
            c["shortcut"] for c in (await agent.get("/api/agent/canned", params={"lang": "pt-BR", "team": "financeiro"})).json()
        }
        assert theirs not in listed
    async with logged_in(desk, *SUPERVISOR) as supervisor:  # a supervisor on a finance chat sees finance's too
        listed = {
            c["shortcut"]
            for c in (await supervisor.get("/api/agent/canned", params={"lang": "pt-BR", "team": "financeiro"})).json()
        }
        assert {theirs, everyones} <= listed and ours not in listed
