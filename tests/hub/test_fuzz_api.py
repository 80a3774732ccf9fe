"""No input gives a 500 anywhere, and nothing changes without the right role: schemathesis
generates requests (valid and invalid) for every operation of the hub's OpenAPI schema and sends
them to a real hub, three ways: with no session, as an agent, as an admin (with the CSRF header).

Random path parameters mostly find nothing (404), so each operation with path parameters is also
fuzzed with the ids that exist (conversations customers started, articles, teams, export tables).
Bounded: a few examples per operation and mode, no shrinking, so the whole run takes about a
minute and a half. A failure lists every request that got a 5xx (as a curl command to replay)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode

from insights.export import TABLES
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub

AGENT = ("fuzz-agent@loja.test", "fuzz-agent-password-1")
ADMIN = ("fuzz-admin@loja.test", "fuzz-admin-password-1")
# Per operation, generation mode (valid, invalid, valid with real ids) and identity; FUZZ_EXAMPLES=100
# for a deeper run by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# What only an admin or an editor may change. A user's status and assignment are the agent's own.
GUARDED = {
    "teams": "SELECT * FROM teams ORDER BY id",
    "users": "SELECT id, email, name, password_hash, role, active, capacity FROM users ORDER BY id",
    "team_members": "SELECT * FROM team_members ORDER BY user_id, team_id",
    "articles": "SELECT * FROM articles ORDER BY id, lang",
    "article_versions": "SELECT count(*) FROM article_versions",
    "canned_responses": "SELECT * FROM canned_responses ORDER BY id",
    "integration_tokens": "SELECT id, name, scopes, revoked_at FROM integration_tokens ORDER BY id",
    "webhook_endpoints": "SELECT id, url, events FROM webhook_endpoints ORDER BY id",
}


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub without Rasa (a customer's message takes the bot-failure path), an agent and an admin."""
    from hub.operations import add_user

    # The fuzzer's wrong logins come from one address: the login throttle (tested on its own in
    # tests/hub/test_logins.py) would lock the agent and the admin out of the runs that follow.
    settings = hub_settings(
        tmp_path_factory.mktemp("fuzz-hub"),
        cache_dir=index_cache,
        rasa_attempts=1,
        login_attempts_per_ip=1_000_000,
        login_attempts_per_account=1_000_000,
    )
    hub = start_hub(settings)
    asyncio.run(add_user(hub.settings, email=AGENT[0], name="Fuzz Agent", role="agent", teams=["geral"], password=AGENT[1]))
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Fuzz Admin", role="admin", teams=["geral"], password=ADMIN[1]))
    asyncio.run(start_conversations(hub))
    yield hub
    hub.stop()


async def start_conversations(hub: RunningHub) -> None:
    """Customers who asked something: with no bot behind the hub, their chats wait for a person."""
    for lang in ("pt-BR", "en", "pt-PT"):
        customer = await WidgetCustomer(hub.url, lang).connect()
        await customer.say("preciso de ajuda com meu pedido")
        await customer.close()


def query(hub: RunningHub, sql: str) -> list[tuple]:
    """Rows read straight from the hub's SQLite file (read-only)."""
    path = hub.settings.database_url.split("///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def known_ids(hub: RunningHub) -> dict[str, list[object]]:
    """Path parameter values that exist, by parameter name."""
    articles = query(hub, "SELECT id, lang FROM articles ORDER BY id LIMIT 6")
    return {
        "conversation_id": [r[0] for r in query(hub, "SELECT id FROM conversations")],
        "article_id": [a for a, _ in articles],
        "lang": sorted({lang for _, lang in articles}),
        "team_id": [r[0] for r in query(hub, "SELECT id FROM teams")],
        "table": list(TABLES),
        "follow_up_id": [1, 2],
        "token_id": [r[0] for r in query(hub, "SELECT id FROM integration_tokens")] or [1],
        "webhook_id": [r[0] for r in query(hub, "SELECT id FROM webhook_endpoints")] or [1],
        "delivery_id": [r[0] for r in query(hub, "SELECT id FROM webhook_deliveries")] or [1],
    }


def snapshot(hub: RunningHub) -> dict[str, list[tuple]]:
    """The rows only an admin or an editor may change, read straight from the hub's SQLite file."""
    return {name: query(hub, sql) for name, sql in GUARDED.items()}


def session_as(hub: RunningHub, account: tuple[str, str] | None) -> requests.Session:
    """An HTTP session: anonymous, or logged in with the CSRF header every change needs."""
    http = requests.Session()
    if account is not None:
        r = http.post(f"{hub.url}/api/auth/login", json={"email": account[0], "password": account[1]}, timeout=30)
        r.raise_for_status()
        http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return http


def fuzz(hub: RunningHub, http: requests.Session, *, only: str = "/") -> tuple[int, list[str]]:
    """Send generated requests for every operation (whose path starts with ``only``); returns how
    many, and those that got a 5xx."""
    schema = schemathesis.openapi.from_dict(hub.app.openapi())
    known = known_ids(hub)
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(only):
            continue
        strategies = [operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        names = [p.name for p in operation.path_parameters]
        if names and all(known.get(name) for name in names):
            real = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
            strategies.append(real.flatmap(lambda values, op=operation: op.as_strategy(path_parameters=values)))
        for strategy in strategies:

            @settings(
                max_examples=EXAMPLES,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is kept as found
                deadline=None,
                database=None,
                derandomize=True,  # the same requests every run
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def send(case: schemathesis.Case) -> None:
                nonlocal sent
                sent += 1
                try:
                    response = case.call(base_url=hub.url, session=http, timeout=30)
                except requests.RequestException as exc:  # the hub dropped the connection: as bad as a 500
                    failures.append(f"{case.operation.label}: {exc!r}\n  {case.as_curl_command(base_url=hub.url)}")
                    return
                if response.status_code >= 500:
                    failures.append(
                        f"{case.operation.label} → {response.status_code} {response.text[:200]!r}\n"
                        f"  {case.as_curl_command(base_url=hub.url)}"
                    )

            # HypothesisException: no invalid input can be expressed for this operation (no parameter)
            with contextlib.suppress(HypothesisException):
                send()
    return sent, failures


@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_no_input_gives_a_500_and_nothing_guarded_changes_without_the_role(fuzz_hub: RunningHub, who: str) -> None:
    http = session_as(fuzz_hub, {"anonymous": None, "agent": AGENT}[who])
    before = snapshot(fuzz_hub)
    sent, failures = fuzz(fuzz_hub, http)
    assert sent > 300
    assert failures == [], "\n".join(failures)
    after = snapshot(fuzz_hub)
    changed = {name: (before[name], after[name]) for name in GUARDED if before[name] != after[name]}
    assert changed == {}, f"{who} changed what needs another role: {changed}"


def test_no_input_gives_a_500_as_an_admin(fuzz_hub: RunningHub) -> None:
    sent, failures = fuzz(fuzz_hub, session_as(fuzz_hub, ADMIN))
    assert sent > 300
    assert failures == [], "\n".join(failures)


def test_no_input_gives_a_500_with_an_integration_token(fuzz_hub: RunningHub) -> None:
    """The integration API (/api/v1) with a token holding every scope: its handlers, not only its 401."""
    admin = session_as(fuzz_hub, ADMIN)
    scopes = ["conversations:read", "messages:read", "customers:read", "surveys:read"]
    r = admin.post(f"{fuzz_hub.url}/api/admin/integrations/tokens", json={"name": "fuzz", "scopes": scopes}, timeout=30)
    r.raise_for_status()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"
    sent, failures = fuzz(fuzz_hub, http, only="/api/v1/")
    assert sent > 50
    assert failures == [], "\n".join(failures)
