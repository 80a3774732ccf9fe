"""The integration API as a CRM uses it: a token made on the admin API opens exactly the routes of
its scopes (403 for the others), no token / a wrong one / a revoked one is 401, the token is kept
only as a hash, and what it reads is what happened (the customer's words, never private notes)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from core.http import hub_client
from tests.support import RunningHub, WidgetCustomer

SCOPES = ("conversations:read", "messages:read", "customers:read", "surveys:read")


def query(hub: RunningHub, sql: str) -> list[tuple]:
    path = hub.settings.database_url.split("///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


async def make_token(admin: httpx.AsyncClient, *scopes: str, name: str = "CRM") -> dict:
    r = await admin.post("/api/admin/integrations/tokens", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return r.json()


async def crm(hub: RunningHub, token: str) -> httpx.AsyncClient:
    return hub_client(base_url=hub.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def chat(desk: RunningHub) -> dict:
    """A customer who asked for help (queued, Rasa being away) and the agent's private note on it."""
    import asyncio

    async def start() -> dict:
        customer = await WidgetCustomer(desk.url, "pt-BR").connect()
        await customer.say("quero saber do meu pedido 4521")
        await customer.close()
        async with hub_client(base_url=desk.url, timeout=30) as staff:
            from tests.integrations.conftest import AGENT

            r = await staff.post("/api/auth/login", json={"email": AGENT[0], "password": AGENT[1]})
            staff.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            queue = (await staff.get("/api/agent/queue")).json()
            conversation_id = queue[0]["id"]
            r = await staff.post(f"/api/agent/conversations/{conversation_id}/notes", json={"text": "cliente VIP, nota interna"})
            assert r.status_code == 201, r.text
        return {"id": conversation_id, "customer_id": customer.customer_id}

    return asyncio.run(start())


async def test_each_scope_opens_exactly_its_routes(desk: RunningHub, admin: httpx.AsyncClient, chat: dict) -> None:
    routes = {
        "conversations:read": ["/api/v1/conversations", f"/api/v1/conversations/{chat['id']}"],
        "messages:read": [f"/api/v1/conversations/{chat['id']}/messages"],
        "customers:read": ["/api/v1/customers", f"/api/v1/customers/widget/{chat['customer_id']}"],
        "surveys:read": ["/api/v1/surveys"],
    }
    for scope in SCOPES:
        token = (await make_token(admin, scope, name=f"only {scope}"))["token"]
        async with await crm(desk, token) as client:
            for route_scope, paths in routes.items():
                for path in paths:
                    r = await client.get(path)
                    expected = 200 if route_scope == scope else 403
                    assert r.status_code == expected, f"{scope} token on {path}: {r.status_code} {r.text}"
                    if expected == 403:
                        assert route_scope in r.json()["detail"]


async def test_no_token_a_wrong_one_or_a_revoked_one_is_401(desk: RunningHub, admin: httpx.AsyncClient, chat: dict) -> None:
    made = await make_token(admin, *SCOPES, name="order system")
    async with hub_client(base_url=desk.url, timeout=30) as anonymous:
        r = await anonymous.get("/api/v1/conversations")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer blc_not-a-token", "Bearer " + made["token"][:-1], "Basic " + made["token"], "Bearer"):
            r = await anonymous.get("/api/v1/conversations", headers={"Authorization": header})
            assert r.status_code == 401, header
    async with await crm(desk, made["token"]) as client:
        assert (await client.get("/api/v1/conversations")).status_code == 200
        r = await admin.post(f"/api/admin/integrations/tokens/{made['id']}/revoke")
        assert r.status_code == 200 and r.json()["revoked_at"]
        r = await client.get("/api/v1/conversations")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    # Kept as a keyed hash only; the list shows its first characters and when it was used.
    rows = [r for r in query(desk, "SELECT id, token_hash, hint, last_used_at FROM integration_tokens") if r[0] == made["id"]]
    assert rows[0][1] != made["token"] and made["token"] not in str(rows)
    assert made["token"].startswith(rows[0][2]) and rows[0][3] is not None
    listed = (await admin.get("/api/admin/integrations/tokens")).json()
    assert made["token"] not in str(listed)
    audit = await admin.get("/api/admin/audit", params={"action": "integration_token_revoke"})
    assert "order system" in audit.text, "the revocation is in the audit log"


async def test_only_admins_make_tokens(admin: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
    r = await agent.post("/api/admin/integrations/tokens", json={"name": "mine", "scopes": ["conversations:read"]})
    assert r.status_code == 403
    r = await admin.post("/api/admin/integrations/tokens", json={"name": "x", "scopes": ["conversations:write"]})
    assert r.status_code == 422 and "conversations:write" in r.json()["detail"]
    r = await admin.post("/api/admin/integrations/tokens", json={"name": "  ", "scopes": ["conversations:read"]})
    assert r.status_code == 422


async def test_what_the_crm_reads_is_what_happened(desk: RunningHub, admin: httpx.AsyncClient, chat: dict) -> None:
    token = (await make_token(admin, *SCOPES))["token"]
    async with await crm(desk, token) as client:
        listed = (await client.get("/api/v1/conversations", params={"state": "queued", "channel": "widget"})).json()
        assert chat["id"] in [c["id"] for c in listed["items"]]
        assert (await client.get("/api/v1/conversations", params={"state": "ended"})).json()["items"] == []
        future = (await client.get("/api/v1/conversations", params={"since": "2999-01-01T00:00:00Z"})).json()
        assert future["items"] == []
        texts = [m["text"] for m in (await client.get(f"/api/v1/conversations/{chat['id']}/messages")).json()["items"]]
        assert "quero saber do meu pedido 4521" in texts
        assert not any("nota interna" in t for t in texts), "private notes are never served"
        customer = (await client.get(f"/api/v1/customers/widget/{chat['customer_id']}")).json()
        assert customer["customer_id"] == chat["customer_id"]
        assert (await client.get("/api/v1/conversations/nope")).status_code == 404
        assert (await client.get("/api/v1/conversations", params={"cursor": "garbage"})).status_code == 400


async def test_pages_walk_every_conversation_once(desk: RunningHub, admin: httpx.AsyncClient, chat: dict) -> None:
    for lang in ("en", "pt-PT"):
        customer = await WidgetCustomer(desk.url, lang).connect()
        await customer.say("help with my order")
        await customer.close()
    token = (await make_token(admin, "conversations:read"))["token"]
    seen: list[str] = []
    async with await crm(desk, token) as client:
        cursor = None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/conversations", params=params)).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    everyone = [r[0] for r in query(desk, "SELECT id FROM conversations")]
    assert sorted(seen) == sorted(everyone) and len(seen) == len(set(seen)) >= 3


async def test_a_token_over_its_limit_is_told_to_slow_down(desk: RunningHub, admin: httpx.AsyncClient) -> None:
    from connectors.ratelimit import TokenBucket

    limits = desk.app.state.rate_limits
    token = (await make_token(admin, "surveys:read", name="busy ERP"))["token"]
    generous = limits.customer
    limits.customer = TokenBucket(per_minute=0.001, burst=2)  # per token, as per customer
    try:
        async with await crm(desk, token) as client:
            statuses = [(await client.get("/api/v1/surveys")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
    finally:
        limits.customer = generous
