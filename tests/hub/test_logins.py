"""Logging in cannot be used to guess passwords or to stall the desk: wrong passwords are counted
per account and per client address (shared by the replicas through Redis), each wait after the
first is longer, attempts made at once cannot slip past the count, and the password check leaves
the event loop free. The agents' WebSocket opens only from the desk's own pages."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

import handoff.users
from connectors.ratelimit import TokenBucket
from core.security import allowed_origin
from hub.operations import add_user
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub, widget_protocols

REDIS = "redis://127.0.0.1:6379/0"
LOCK_S = 2.0  # the first wait (the desk's default is a minute)
_ips = (f"203.0.113.{n % 250 + 1}" if n < 250 else f"2001:db8::{n:x}" for n in itertools.count())


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two replicas of one desk (one SQLite file, one Redis), behind a (pretend) proxy on
    127.0.0.1, so each client has an address of its own (X-Forwarded-For)."""
    tmp = tmp_path_factory.mktemp("logins")
    shared = dict(
        database_url=f"sqlite+aiosqlite:///{tmp / 'shared.db'}",
        redis_url=REDIS,
        redis_prefix=f"balcao-test-{uuid.uuid4().hex[:8]}",
        trusted_proxies=["127.0.0.1"],
        login_lock_s=LOCK_S,
        rasa_attempts=1,
    )
    a = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    b = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def hub(replicas: tuple[RunningHub, RunningHub]) -> RunningHub:
    return replicas[0]


async def new_account(hub: RunningHub, password: str = "right-password-1") -> tuple[str, str]:
    email = f"agent-{uuid.uuid4().hex[:8]}@loja.test"
    await add_user(hub.settings, email=email, name="Agente", role="agent", teams=["geral"], password=password)
    return email, password


async def log_in(hub: RunningHub, email: str, password: str, *, ip: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=60, headers={"X-Forwarded-For": ip or next(_ips)}) as client:
        return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_after_five_wrong_passwords_the_account_waits_longer_each_time(replicas: tuple[RunningHub, RunningHub]) -> None:
    a, b = replicas
    email, password = await new_account(a)
    for _ in range(5):  # each from another address: the account is what counts
        assert (await log_in(a, email, "wrong-password")).status_code == 401
    # The other replica knows (Redis): the right password now waits too.
    for hub in (b, a):
        r = await log_in(hub, email, password)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= LOCK_S
    await asyncio.sleep(LOCK_S + 0.2)
    assert (await log_in(b, email, "wrong-password")).status_code == 401  # one more try, then twice the wait
    r = await log_in(a, email, password)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 2 * LOCK_S
    await asyncio.sleep(2 * LOCK_S + 0.2)
    assert (await log_in(a, email, password)).status_code == 200  # the right one, in time: a fresh start
    for _ in range(4):
        assert (await log_in(a, email, "wrong-password")).status_code == 401


async def test_the_login_form_says_how_long_to_wait(hub: RunningHub) -> None:
    email, _ = await new_account(hub)
    for _ in range(5):
        await log_in(hub, email, "wrong-password")
    async with httpx.AsyncClient(base_url=hub.url, headers={"X-Forwarded-For": next(_ips)}) as browser:
        token = (await browser.get("/login")).text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await browser.post("/login", data={"email": email, "password": "wrong-password", "csrf_token": token})
        assert r.status_code == 429 and r.headers["Retry-After"] and "try again in" in r.text


async def test_wrong_passwords_for_many_accounts_from_one_address_make_it_wait(hub: RunningHub) -> None:
    ip = next(_ips)
    email, password = await new_account(hub)
    for n in range(hub.settings.login_attempts_per_ip):
        assert (await log_in(hub, f"guess-{n}@loja.test", "password123", ip=ip)).status_code == 401
    r = await log_in(hub, email, password, ip=ip)
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert (await log_in(hub, email, password)).status_code == 200  # from another address


async def test_guesses_sent_at_once_cannot_slip_past_the_count(hub: RunningHub) -> None:
    email, _ = await new_account(hub)
    answers = await asyncio.gather(*(log_in(hub, email, f"guess-{n}") for n in range(12)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * hub.settings.login_attempts_per_account + [429] * (12 - hub.settings.login_attempts_per_account)


async def test_a_flood_of_logins_from_many_addresses_is_checked_at_the_hubs_pace(hub: RunningHub) -> None:
    """Past this process's budget of password checks, a login waits a second whoever sends it, and
    what was refused counts against no account or address."""
    throttle = hub.app.state.login_throttle
    desk_budget = throttle.checks
    throttle.checks = TokenBucket(per_minute=60, burst=3)  # this desk checks 1 password a second, 3 at once
    try:
        email, password = await new_account(hub)
        ips = [next(_ips) for _ in range(6)]
        answers = await asyncio.gather(*(log_in(hub, f"guess-{n}@loja.test", "password123", ip=ip) for n, ip in enumerate(ips)))
        assert sorted(r.status_code for r in answers) == [401] * 3 + [429] * 3
        busy = [r for r in answers if r.status_code == 429]
        assert all(r.headers["Retry-After"] == "1" and "checking many logins" in r.json()["detail"] for r in busy)
        await asyncio.sleep(1.1)
        refused_ip = ips[answers.index(busy[0])]
        assert (await log_in(hub, email, password, ip=refused_ip)).status_code == 200  # the wait is all it cost
    finally:
        throttle.checks = desk_budget


async def test_a_password_check_leaves_the_event_loop_free(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_current_thread(), hub.app.state.loop))
    checked_on: list[threading.Thread] = []
    real = handoff.users._hasher

    class Recording:
        """The hub's argon2 hasher, noting the thread each hash and check runs on."""

        def hash(self, password: str) -> str:
            checked_on.append(threading.current_thread())
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            checked_on.append(threading.current_thread())
            return real.verify(hashed, password)

    monkeypatch.setattr(handoff.users, "_hasher", Recording())
    email, _ = await new_account(hub)
    checked_on.clear()

    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as probe:
        logins = [asyncio.create_task(log_in(hub, f"{n}-{email}" if n else email, "wrong-password")) for n in range(20)]
        await asyncio.sleep(0.2)
        health = await probe.get("/healthz")  # answered while the checks run
        assert health.status_code == 200
        assert not all(task.done() for task in logins), "the logins were over before /healthz was asked"
        assert {r.status_code for r in await asyncio.gather(*logins)} == {401}
    assert len(checked_on) == 20 and loop_thread not in checked_on


async def _current_thread() -> threading.Thread:
    return threading.current_thread()


async def test_the_console_websocket_opens_only_from_the_desks_own_pages(hub: RunningHub) -> None:
    email, password = await new_account(hub)
    async with httpx.AsyncClient(base_url=hub.url, headers={"X-Forwarded-For": next(_ips)}) as agent:
        (await agent.post("/api/auth/login", json={"email": email, "password": password})).raise_for_status()
        cookie = {"Cookie": f"balcao_session={agent.cookies['balcao_session']}"}
    url = hub.url.replace("http", "ws") + "/api/agent/ws"
    for evil in ("https://evil.example", "http://127.0.0.1.evil.example", f"http://127.0.0.1:{hub.settings.port + 1}", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers=cookie, origin=evil)
        assert refused.value.response.status_code == 403, evil
    for own in (hub.url, f"http://localhost:{hub.settings.port}"):
        async with websockets.connect(url, additional_headers=cookie, origin=own) as console:
            await console.ping()
    # The widget is embedded in the shop's own site: any page may open it.
    customer = WidgetCustomer(hub.url)
    async with httpx.AsyncClient() as client:
        customer.token = (await client.post(f"{hub.url}/widget/session", json={"token": None})).json()["token"]
    ws_url = hub.url.replace("http", "ws") + "/widget/ws?lang=pt-BR"
    async with websockets.connect(ws_url, subprotocols=widget_protocols(customer.token), origin="https://shop.example") as widget:
        assert (await asyncio.wait_for(widget.recv(), 10)) is not None


def test_the_origins_a_desk_accepts() -> None:
    public = "https://desk.loja.example"
    assert allowed_origin("https://desk.loja.example", public_url=public, port=8000)
    assert allowed_origin("https://DESK.loja.example:443", public_url=public, port=8000)
    assert allowed_origin(None, public_url=public, port=8000)  # not a browser
    for other in ("http://desk.loja.example", "https://evil.example", "https://desk.loja.example.evil.example", "null", ""):
        assert not allowed_origin(other, public_url=public, port=8000), other
    # A desk on one machine: its own port, under any loopback name; nothing else.
    local = "http://127.0.0.1:8000"
    assert allowed_origin("http://localhost:8000", public_url=local, port=8000)
    assert allowed_origin("http://[::1]:8000", public_url=local, port=8000)
    assert not allowed_origin("http://localhost:3000", public_url=local, port=8000)
    assert not allowed_origin("https://desk.loja.example", public_url=local, port=8000)
    assert not allowed_origin("http://localhost:8000", public_url=public, port=8000)
