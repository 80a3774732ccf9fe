"""The bot's reply to "hi", with the real Rasa server: it names the company and the bot as the admins
set them on ``/admin/settings``, and a change there is in the very next greeting (no retraining)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.operations import add_user
from tests.support import RunningHub, WidgetCustomer, bot_texts

pytestmark = pytest.mark.rasa
ADMIN = ("greta@loja.test", "greta-password-1")


@pytest.fixture(scope="module")
def admin_account(hub: RunningHub) -> tuple[str, str]:
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Greta", role="admin", teams=[], password=ADMIN[1]))
    return ADMIN


@pytest.fixture
async def admin(hub: RunningHub, admin_account: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        r = await client.post("/api/auth/login", json={"email": admin_account[0], "password": admin_account[1]})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield client


async def save_names(admin: httpx.AsyncClient, company: str, bot: str) -> None:
    """The settings form as the admin sends it (empty: back to the default)."""
    form = {
        "csrf_token": admin.headers["X-CSRF-Token"],
        "lang": "pt-BR",
        "company_name": company,
        "bot_name": bot,
        "languages": ["pt-BR", "pt-PT", "en"],
    }
    r = await admin.post("/admin/settings", data=form)
    assert r.status_code == 303, r.text[-500:]


async def greeting(hub: RunningHub, lang: str, hello: str) -> list[str]:
    customer = await WidgetCustomer(hub.url, lang).connect()
    try:
        return bot_texts(await customer.say(hello))
    finally:
        await customer.close()


async def test_the_reply_to_hi_names_the_company_and_the_bot_the_admins_set(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    assert await greeting(hub, "pt-BR", "oi") == [
        "Oi! Sou o assistente da Loja Maré. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa."
    ]
    await save_names(admin, "Padaria Aurora", "Iara")
    try:
        assert await greeting(hub, "pt-PT", "olá, bom dia") == [
            "Olá! Sou Iara, assistente da Padaria Aurora. Em que posso ajudar? "
            "Escreva a sua pergunta ou peça para falar com uma pessoa."
        ]
        assert await greeting(hub, "en", "hello") == [
            "Hi! I'm Iara, the Padaria Aurora assistant. How can I help? Type your question, or ask to talk to a person."
        ]
    finally:
        await save_names(admin, "", "")
    assert await greeting(hub, "pt-BR", "oi") == [
        "Oi! Sou o assistente da Loja Maré. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa."
    ]
