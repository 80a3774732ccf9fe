"""Staff sessions end on the server: logging out, a password change or reset, deactivation and a
role change refuse every copy of the old cookie (on SQLite and PostgreSQL); logging out is a POST;
a one-time password must be changed before anything else; admins reset passwords; /api/kb/search is
for staff."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hub.db import run_migrations
from hub.operations import add_user, ensure_demo_admin
from tests.support import RunningHub, hub_settings, queueing_hub

ADMIN = ("vera@loja.test", "vera-password-1")
_ips = (f"198.51.100.{n}" for n in itertools.count(1))  # documentation addresses: one per client


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub behind a (pretend) proxy on 127.0.0.1, so each test client has an address of its own
    (X-Forwarded-For) and the login throttle of one test never meets another's."""
    tmp = tmp_path_factory.mktemp(f"sessions-{request.param}")
    with queueing_hub(
        request.param, tmp, cache_dir=index_cache, staff=[(*ADMIN, "admin", [])], trusted_proxies=["127.0.0.1"]
    ) as hub:
        yield hub


async def new_account(hub: RunningHub, role: str = "agent", *, password: str | None = None) -> tuple[str, str]:
    """A new staff member; without ``password``, with a one-time one (as `balcao user add` makes)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@loja.test"
    teams = ["geral"] if role == "agent" else []
    given = await add_user(hub.settings, email=email, name=email[:12], role=role, teams=teams, password=password)
    return email, given


def browser(hub: RunningHub) -> httpx.AsyncClient:
    """A client of its own address."""
    return httpx.AsyncClient(base_url=hub.url, timeout=30, headers={"X-Forwarded-For": next(_ips)})


@asynccontextmanager
async def logged_in(hub: RunningHub, account: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(hub) as client:
        r = await client.post("/api/auth/login", json={"email": account[0], "password": account[1]})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield client


def copy_of(hub: RunningHub, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = browser(hub)
    thief.cookies.set("balcao_session", client.cookies["balcao_session"])
    return thief


@pytest.fixture
async def admin(desk: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(desk, ADMIN) as client:
        yield client


async def test_a_copied_cookie_is_refused_once_its_user_logs_out(desk: RunningHub) -> None:
    account = await new_account(desk, password="agent-password-1")
    async with logged_in(desk, account) as agent, copy_of(desk, agent) as thief:
        assert (await thief.get("/api/me")).json()["email"] == account[0]
        assert (await agent.post("/api/auth/logout")).status_code == 204
        assert (await thief.get("/api/me")).status_code == 401
        assert (await thief.get("/api/agent/queue")).status_code == 401
        assert (await agent.get("/api/me")).status_code == 401

    # The pages' logout button (a form POST with the CSRF token) does the same.
    async with browser(desk) as agent:
        page = await agent.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await agent.post(
            "/login", data={"email": account[0], "password": account[1], "csrf_token": token, "next": "/console"}
        )
        assert (r.status_code, r.headers["location"]) == (303, "/console")
        console = await agent.get("/console")
        assert console.status_code == 200 and 'action="/logout"' in console.text and "/logout</a>" not in console.text
        token = console.text.split('name="csrf-token" content="')[1].split('"')[0]
        async with copy_of(desk, agent) as thief:
            out = await agent.post("/logout", data={"csrf_token": token})
            assert (out.status_code, out.headers["location"]) == (303, "/login")
            assert (await thief.get("/console")).headers["location"] == "/login?next=/console"


async def open_console(hub: RunningHub, agent: httpx.AsyncClient) -> websockets.ClientConnection:
    """The console's live WebSocket, opened with the agent's cookie from the desk's own page."""
    return await websockets.connect(
        hub.url.replace("http", "ws", 1) + "/api/agent/ws",
        additional_headers={"Cookie": f"balcao_session={agent.cookies['balcao_session']}", "Origin": hub.url},
        proxy=None,
    )


async def closed_with(console: websockets.ClientConnection) -> int | None:
    """The close code of a console the server closes (events before it are skipped)."""
    async with asyncio.timeout(30):
        while True:
            try:
                await console.recv()
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None


async def test_an_open_console_closes_when_its_sessions_end_elsewhere(desk: RunningHub, admin: httpx.AsyncClient) -> None:
    account = await new_account(desk, password="console-password-1")
    async with logged_in(desk, account) as laptop, logged_in(desk, account) as phone:
        console = await open_console(desk, laptop)
        assert (await phone.post("/api/auth/logout")).status_code == 204  # "log out everywhere" from the phone
        assert await closed_with(console) == 4401  # the console then goes to the login page
        with pytest.raises(InvalidStatus):  # and its cookie cannot open it again
            await open_console(desk, laptop)

    async with logged_in(desk, account) as laptop:
        console = await open_console(desk, laptop)
        users = {u["email"]: u["id"] for u in (await admin.get("/api/admin/users")).json()}
        assert (await admin.post(f"/api/admin/users/{users[account[0]]}/deactivate")).status_code == 200
        assert await closed_with(console) == 4401


async def test_logging_out_by_get_or_without_the_csrf_token_does_not_log_out(desk: RunningHub) -> None:
    account = await new_account(desk, password="agent-password-2")
    async with logged_in(desk, account) as agent:
        page = await agent.get("/logout")
        assert page.status_code == 200 and 'method="post" action="/logout"' in page.text
        assert (await agent.get("/api/me")).status_code == 200
        refused = await agent.post("/logout", data={"csrf_token": "not-the-token"})
        assert refused.status_code == 403
        del agent.headers["X-CSRF-Token"]
        assert (await agent.post("/api/auth/logout")).status_code == 403
        assert (await agent.get("/api/me")).status_code == 200


async def test_a_password_change_ends_every_other_session_and_keeps_this_one(desk: RunningHub) -> None:
    email, old = await new_account(desk, password="old-password-1")
    async with logged_in(desk, (email, old)) as agent, copy_of(desk, agent) as thief:
        change = {"current_password": old, "new_password": "new-password-1"}
        assert (await agent.post("/api/auth/password", json={**change, "current_password": "wrong-password"})).status_code == 401
        assert (await agent.post("/api/auth/password", json={**change, "new_password": "short"})).status_code == 422
        assert (await thief.get("/api/me")).status_code == 200  # nothing changed yet

        r = await agent.post("/api/auth/password", json=change)
        assert r.status_code == 200
        agent.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        assert (await agent.get("/api/agent/queue")).status_code == 200  # this browser goes on
        assert (await thief.get("/api/me")).status_code == 401

    async with browser(desk) as other:
        assert (await other.post("/api/auth/login", json={"email": email, "password": old})).status_code == 401
        assert (await other.post("/api/auth/login", json={"email": email, "password": "new-password-1"})).status_code == 200


async def test_deactivation_and_a_role_change_end_the_users_sessions(desk: RunningHub, admin: httpx.AsyncClient) -> None:
    leaving = await new_account(desk, password="leaving-password-1")
    moving = await new_account(desk, password="moving-password-1")
    async with logged_in(desk, leaving) as gone, logged_in(desk, moving) as promoted:
        users = {u["email"]: u["id"] for u in (await admin.get("/api/admin/users")).json()}
        assert (await gone.get("/api/agent/queue")).status_code == 200

        r = await admin.post(f"/api/admin/users/{users[leaving[0]]}/deactivate")
        assert r.status_code == 200 and r.json()["active"] is False
        assert (await gone.get("/api/agent/queue")).status_code == 401
        assert (await gone.post("/api/auth/login", json={"email": leaving[0], "password": leaving[1]})).status_code == 401

        r = await admin.put(f"/api/admin/users/{users[moving[0]]}/role", json={"role": "supervisor"})
        assert r.status_code == 200 and r.json()["role"] == "supervisor"
        assert (await promoted.get("/api/agent/queue")).status_code == 401
        again = await promoted.post("/api/auth/login", json={"email": moving[0], "password": moving[1]})
        assert again.json()["user"]["role"] == "supervisor"

        me = (await admin.get("/api/me")).json()
        assert (await admin.post(f"/api/admin/users/{me['id']}/deactivate")).status_code == 409  # the last admin


async def test_a_one_time_password_must_be_changed_before_anything_else(desk: RunningHub) -> None:
    email, one_time = await new_account(desk)  # generated, as `balcao user add` without --password
    async with browser(desk) as api:
        r = await api.post("/api/auth/login", json={"email": email, "password": one_time})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        refused = await api.get("/api/agent/queue")
        assert refused.status_code == 403 and "one-time password" in refused.json()["detail"]
        assert (await api.get("/api/kb/articles")).status_code == 403
        assert (await api.get("/console")).headers["location"] == "/account/password?next=/console"
        assert (await api.get("/api/me")).json()["must_change_password"] is True
        same = await api.post("/api/auth/password", json={"current_password": one_time, "new_password": one_time})
        assert same.status_code == 422  # the one-time password cannot be kept

    async with browser(desk) as person:
        token = (await person.get("/login")).text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"email": email, "password": one_time, "csrf_token": token, "next": "/console"}
        r = await person.post("/login", data=form)
        assert (r.status_code, r.headers["location"]) == (303, "/account/password?next=/console")
        page = await person.get(r.headers["location"])
        assert page.status_code == 200 and "new_password_again" in page.text
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        change = {"current_password": one_time, "new_password": "my-own-password", "csrf_token": token, "next": "/console"}
        differ = await person.post("/account/password", data={**change, "new_password_again": "my-own-passw0rd"})
        assert differ.status_code == 400 and "differ" in differ.text
        done = await person.post("/account/password", data={**change, "new_password_again": "my-own-password"})
        assert (done.status_code, done.headers["location"]) == (303, "/console")
        assert (await person.get("/console")).status_code == 200
        assert (await person.get("/api/me")).json()["must_change_password"] is False


async def test_an_admin_resets_a_password_and_only_an_admin_may(desk: RunningHub, admin: httpx.AsyncClient) -> None:
    account = await new_account(desk, password="forgotten-password-1")
    bystander = await new_account(desk, role="supervisor", password="supervisor-password-1")
    async with logged_in(desk, account) as agent, logged_in(desk, bystander) as supervisor:
        user_id = (await agent.get("/api/me")).json()["id"]
        assert (await agent.post(f"/api/admin/users/{user_id}/password-reset")).status_code == 403
        assert (await supervisor.post(f"/api/admin/users/{user_id}/password-reset")).status_code == 403
        no_csrf = await admin.post(f"/api/admin/users/{user_id}/password-reset", headers={"X-CSRF-Token": "wrong"})
        assert no_csrf.status_code == 403
        assert (await admin.post("/api/admin/users/999999/password-reset")).status_code == 404

        r = await admin.post(f"/api/admin/users/{user_id}/password-reset")
        assert r.status_code == 200 and r.json()["user"]["must_change_password"] is True
        new = r.json()["password"]
        assert (await agent.get("/api/me")).status_code == 401  # every session of theirs ended

    async with browser(desk) as again:
        assert (await again.post("/api/auth/login", json={"email": account[0], "password": account[1]})).status_code == 401
        r = await again.post("/api/auth/login", json={"email": account[0], "password": new})
        assert r.status_code == 200 and r.json()["must_change_password"] is True


def test_the_reset_password_command_prints_a_one_time_password(
    desk: RunningHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub import cli

    email, _ = asyncio.run(new_account(desk, password="cli-password-1"))
    monkeypatch.setattr(cli, "get_settings", lambda: desk.settings)
    assert cli.main(["user", "reset-password", email]) == 0
    password = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    r = httpx.post(
        f"{desk.url}/api/auth/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": next(_ips)}
    )
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    assert cli.main(["user", "reset-password", "nobody@loja.test"]) == 1
    assert "no user" in capsys.readouterr().err


def test_the_demo_admins_password_is_one_time(tmp_path: Path, index_cache: Path) -> None:
    settings = hub_settings(tmp_path, cache_dir=index_cache)
    run_migrations(settings.database_url)
    email, _ = asyncio.run(ensure_demo_admin(settings))
    engine = sa.create_engine(settings.database_url.replace("+aiosqlite", ""))
    with engine.connect() as db:
        flag = db.execute(sa.text("SELECT must_change_password FROM users WHERE email = :e"), {"e": email}).scalar_one()
    engine.dispose()
    assert flag


async def test_a_wrong_password_six_times_then_the_right_one_waits(desk: RunningHub) -> None:
    email, password = await new_account(desk, password="right-password-1")
    for _ in range(5):  # each from another address: the account is what counts here
        async with browser(desk) as client:
            assert (await client.post("/api/auth/login", json={"email": email, "password": "wrong-password"})).status_code == 401
    async with browser(desk) as client:
        sixth = await client.post("/api/auth/login", json={"email": email, "password": "wrong-password"})
        assert sixth.status_code == 429 and int(sixth.headers["Retry-After"]) >= 1
        right = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1


async def test_the_knowledge_base_search_is_for_staff(desk: RunningHub) -> None:
    async with browser(desk) as anonymous:
        assert (await anonymous.get("/api/kb/search", params={"q": "qual o prazo de entrega?"})).status_code == 401
    async with logged_in(desk, await new_account(desk, password="agent-password-3")) as agent:
        r = await agent.get("/api/kb/search", params={"q": "qual o prazo de entrega?"})
        assert r.status_code == 200 and r.json()["hits"]
