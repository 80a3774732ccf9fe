"""Session fixtures: the trained Rasa model, a hub with the starter knowledge base, and the real
Rasa server whose custom actions run in that hub."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.channel_fakes import FakeTelegram, FakeTwilio
from tests.support import AgentClient, RunningHub, RunningRasa, hub_settings, start_hub, start_rasa

# The tests share two cores with Rasa, Chromium and the hubs they start: how fast Hypothesis draws
# its inputs says nothing about the code under test, so its speed health check is off.
hypothesis.settings.register_profile("shared-machine", suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for every hub of the session: each starter article is encoded once."""
    return tmp_path_factory.mktemp("index-cache")


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    """The model for the current training data (trained once per data hash, cached under var/)."""
    from hub.rasa_model import ensure_model

    return ensure_model(quiet=True)


TELEGRAM_TOKEN = "123456:TEST-bot-token"
TELEGRAM_SECRET = "telegram-webhook-secret-for-tests"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "twilio-auth-token-for-tests"


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeTelegram]:
    """A local Bot API server (the hub's python-telegram-bot talks to it)."""
    fake = FakeTelegram(TELEGRAM_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    """A local Twilio Messages API (the hub's twilio client talks to it)."""
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    yield fake
    fake.stop()


def channel_settings(fake_telegram: FakeTelegram, fake_twilio: FakeTwilio) -> dict:
    """Telegram and WhatsApp switched on, pointed at the fakes; fast retries."""
    return dict(
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET,
        telegram_api_url=f"{fake_telegram.url}/bot",
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_whatsapp_from="whatsapp:+14155238886",
        twilio_api_url=fake_twilio.url,
        outbox_backoff_s=0.05,
    )


@pytest.fixture(scope="session")
def desk(
    tmp_path_factory: pytest.TempPathFactory,
    index_cache: Path,
    rasa_model: Path,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
) -> Iterator[tuple[RunningHub, RunningRasa]]:
    """A hub on SQLite and the real Rasa server, wired together as `make run` wires them, with
    Telegram and WhatsApp pointed at local fakes of their APIs."""
    tmp = tmp_path_factory.mktemp("desk")
    token = secrets.token_hex(16)
    from tests.support import free_port

    rasa_port = free_port()
    settings = hub_settings(
        tmp,
        cache_dir=index_cache,
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        rasa_token=token,
        **channel_settings(fake_telegram, fake_twilio),
    )
    hub = start_hub(settings)
    rasa = start_rasa(
        rasa_model,
        actions_url=f"{hub.url}/actions/webhook",
        token=token,
        actions_token=hub.settings.actions_token,
        tmp=tmp,
        port=rasa_port,
    )
    yield hub, rasa
    rasa.stop()
    hub.stop()


@pytest.fixture(scope="session")
def hub(desk: tuple[RunningHub, RunningRasa]) -> RunningHub:
    return desk[0]


@pytest.fixture(scope="session")
def rasa(desk: tuple[RunningHub, RunningRasa]) -> RunningRasa:
    return desk[1]


@pytest.fixture(scope="session")
def agent_accounts(hub: RunningHub) -> dict[str, tuple[str, str]]:
    """Agents of the default teams, created through the same function as `balcao user add`."""
    import asyncio

    from hub.operations import add_user

    accounts = {
        "geral": ("ana@loja.test", "ana-password-1"),
        "financeiro": ("bruno@loja.test", "bruno-password-1"),
    }
    for team, (email, password) in accounts.items():
        asyncio.run(
            add_user(hub.settings, email=email, name=email.split("@")[0].title(), role="agent", teams=[team], password=password)
        )
    return accounts


@pytest.fixture
async def agent(hub: RunningHub, agent_accounts: dict[str, tuple[str, str]]) -> AsyncIterator[AgentClient]:
    """Ana, an agent of the `geral` team, logged in to the console API."""
    client = await AgentClient(hub.url, *agent_accounts["geral"]).login()
    yield client
    await client.aclose()


@pytest.fixture
async def billing_agent(hub: RunningHub, agent_accounts: dict[str, tuple[str, str]]) -> AsyncIterator[AgentClient]:
    """Bruno, an agent of the `financeiro` team."""
    client = await AgentClient(hub.url, *agent_accounts["financeiro"]).login()
    yield client
    await client.aclose()
