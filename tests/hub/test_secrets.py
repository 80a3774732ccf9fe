"""The hub's secrets: by default random, one per purpose, kept in a 0600 file and reused on restart;
the old development values (public in the source) open nothing; an exposed hub refuses known
secrets; and no secret, CSRF token included, can be answered with a 500."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner

from hub.cli import add_user
from hub.secret_store import SECRETS, InsecureSecret, ensure_secrets
from hub.settings import DEV_RASA_TOKEN, DEV_SECRET, ROOT, Settings
from tests.support import RunningHub, WidgetCustomer, free_port, hub_settings, start_hub

ADMIN = ("admin@loja.test", "admin-password-1")


def forged_session(secret: str, user_id: int) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it, with ``secret``."""
    return TimestampSigner(secret).sign(b64encode(json.dumps({"uid": user_id}).encode())).decode()


def log_in(hub: RunningHub) -> tuple[int, str]:
    """The admin's id and session cookie."""
    r = httpx.post(f"{hub.url}/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    r.raise_for_status()
    return r.json()["user"]["id"], r.cookies["balcao_session"]


async def widget_token(hub_url: str) -> str:
    """The token of a new widget customer who opened the chat once."""
    customer = await WidgetCustomer(hub_url).connect()
    await customer.close()
    return customer.token


@pytest.fixture(scope="module")
def default_hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub started with default settings: no secret given, none in the source."""
    hub = start_hub(hub_settings(tmp_path_factory.mktemp("default-hub"), cache_dir=index_cache, rasa_attempts=1))
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Admin", role="admin", teams=[], password=ADMIN[1]))
    yield hub
    hub.stop()


def test_each_purpose_has_its_own_random_secret_in_a_file_only_its_owner_reads(default_hub: RunningHub) -> None:
    path = default_hub.settings.secrets_file
    assert path.parent != ROOT / "var", "tests keep generated secrets out of the repository"
    assert os.stat(path).st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())
    used = {spec.variable: getattr(default_hub.settings, spec.field) for spec in SECRETS}
    assert stored == used
    assert set(used) == {
        "BALCAO_SECRET_KEY",
        "BALCAO_WIDGET_SECRET",
        "BALCAO_MEDIA_SECRET",
        "BALCAO_RASA_TOKEN",
        "BALCAO_ACTIONS_TOKEN",
        "BALCAO_IDENTITY_SECRET",
    }
    assert len(set(used.values())) == 6 and all(len(v) >= 40 for v in used.values())
    assert not {DEV_SECRET, DEV_RASA_TOKEN} & set(used.values())


def test_a_session_cookie_forged_with_the_old_development_secret_is_refused(default_hub: RunningHub) -> None:
    admin_id, _ = log_in(default_hub)
    me = f"{default_hub.url}/api/me"
    assert httpx.get(me, cookies={"balcao_session": forged_session(DEV_SECRET, admin_id)}).status_code == 401
    # The same recipe with the hub's own secret is a valid session: the refusal above is the secret's.
    assert (
        httpx.get(me, cookies={"balcao_session": forged_session(default_hub.settings.secret_key, admin_id)}).json()["id"]
        == admin_id
    )


def test_the_actions_webhook_takes_only_the_actions_token(default_hub: RunningHub) -> None:
    call = {
        "next_action": "action_that_does_not_exist",
        "sender_id": "s",
        "tracker": {"sender_id": "s", "events": []},
        "domain": {},
    }
    webhook = f"{default_hub.url}/actions/webhook"
    for wrong in (DEV_RASA_TOKEN, default_hub.settings.rasa_token, "é-não-ascii", ""):
        r = httpx.post(webhook, params={"token": wrong}, json=call)
        assert r.status_code == 403, (wrong, r.status_code)
    r = httpx.post(webhook, params={"token": default_hub.settings.actions_token}, json=call)
    assert r.status_code == 404 and r.json()["action_name"] == "action_that_does_not_exist"


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(default_hub: RunningHub) -> None:
    with httpx.Client(base_url=default_hub.url) as browser:
        browser.get("/login")  # the session's CSRF token is set
        form = browser.post("/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": "açaí"})
        assert form.status_code == 403
        browser.post("/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).raise_for_status()
        # A header travels as bytes; Starlette reads them as Latin-1.
        r = browser.post("/api/agent/conversations/c-1/claim", headers={"X-CSRF-Token": "açaí".encode()})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]


def test_the_secrets_are_reused_on_restart(tmp_path: Path, index_cache: Path) -> None:
    first = start_hub(hub_settings(tmp_path, cache_dir=index_cache, rasa_attempts=1))
    try:
        asyncio.run(add_user(first.settings, email=ADMIN[0], name="Admin", role="admin", teams=[], password=ADMIN[1]))
        admin_id, cookie = log_in(first)
        token = asyncio.run(widget_token(first.url))
    finally:
        first.stop()
    again = start_hub(hub_settings(tmp_path, cache_dir=index_cache, rasa_attempts=1))
    try:
        assert httpx.get(f"{again.url}/api/me", cookies={"balcao_session": cookie}).json()["id"] == admin_id
        assert httpx.post(f"{again.url}/widget/session", json={"token": token}).status_code == 200
    finally:
        again.stop()


def test_secrets_given_in_the_environment_are_used_and_none_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = {spec.variable: f"{spec.field}-given-in-the-environment-0123456789" for spec in SECRETS}
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    settings = ensure_secrets(Settings(environment="test", secrets_file=tmp_path / "secrets.json"))
    assert {spec.variable: getattr(settings, spec.field) for spec in SECRETS} == given
    assert not (tmp_path / "secrets.json").exists()


def test_an_exposed_hub_accepts_generated_secrets_and_refuses_known_ones(tmp_path: Path) -> None:
    exposed = ensure_secrets(Settings(host="0.0.0.0", secrets_file=tmp_path / "secrets.json"))
    assert exposed.exposed and len(exposed.secret_key) >= 40
    for field, value, variable in (
        ("rasa_token", DEV_RASA_TOKEN, "BALCAO_RASA_TOKEN"),
        ("widget_secret", "changeme", "BALCAO_WIDGET_SECRET"),
        ("actions_token", "short", "BALCAO_ACTIONS_TOKEN"),
    ):
        with pytest.raises(ValueError, match=variable):
            Settings(host="::", **{field: value})
        Settings(host="localhost", **{field: value})  # on loopback only this machine can use them
    (tmp_path / "secrets.json").write_text(json.dumps({"BALCAO_MEDIA_SECRET": DEV_SECRET}))
    with pytest.raises(InsecureSecret, match="BALCAO_MEDIA_SECRET"):
        ensure_secrets(Settings(environment="production", secrets_file=tmp_path / "secrets.json"))


def test_a_hub_beyond_loopback_with_a_development_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")}
    env.update(
        PYTHONPATH=str(ROOT),
        BALCAO_HOST="0.0.0.0",
        BALCAO_PORT=str(free_port()),
        BALCAO_SECRET_KEY=DEV_SECRET,
        BALCAO_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'balcao.db'}",
        BALCAO_SECRETS_FILE=str(tmp_path / "secrets.json"),
        BALCAO_INDEX_DIR=str(tmp_path / "index"),
        BALCAO_MEDIA_DIR=str(tmp_path / "media"),
    )
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = hub.communicate(timeout=120)
    finally:
        if hub.poll() is None:
            hub.kill()
    assert hub.returncode != 0
    assert "BALCAO_SECRET_KEY is a development value" in stderr and "set BALCAO_SECRET_KEY" in stderr
