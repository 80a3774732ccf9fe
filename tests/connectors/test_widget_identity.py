"""Who a widget customer is, as the shop's page says, through a real hub: an identity signed with
the desk's identity secret becomes the customer the agents see, and the same on any browser; a
forged, missing or replayed signature is refused with a clear 403 and nothing of it is kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import customers
from connectors.identity import CustomerIdentity, identified_customer_id, sign_identity
from connectors.models import ChannelCustomer
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub


@pytest.fixture(scope="module")
def bare_hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub with generated secrets and no Rasa; nothing here asks the knowledge base, so it is
    searched by words alone (no encoder to load)."""
    tmp = tmp_path_factory.mktemp("identity-hub")
    hub = start_hub(hub_settings(tmp, cache_dir=index_cache, rasa_attempts=1, encoder="bm25"))
    yield hub
    hub.stop()


def joana(shop_id: str | None = None) -> CustomerIdentity:
    """A logged-in customer of the shop, with an id of her own in each test."""
    return CustomerIdentity(
        id=shop_id or f"cliente-{uuid.uuid4().hex[:8]}",
        name="Joana Prado",
        email="Joana@Exemplo.com.br",
        phone="+55 11 98765-4321",
    )


def body(identity: CustomerIdentity, signature: str | None, token: str | None = None) -> dict:
    fields = {"id": identity.id, "name": identity.name, "email": identity.email, "phone": identity.phone}
    return {"token": token, "identity": fields, "signature": signature}


async def session(hub: RunningHub, payload: dict) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{hub.url}/widget/session", json=payload)


def record(hub: RunningHub, customer_id: str) -> ChannelCustomer | None:
    async def read() -> ChannelCustomer | None:
        async with hub.app.state.desk.sessions() as s:
            return await customers.get_customer(s, channel="widget", customer_id=customer_id)

    return hub.call(read)


async def test_a_signed_identity_is_the_same_customer_on_every_browser(bare_hub: RunningHub) -> None:
    who = joana()
    signature = sign_identity(bare_hub.settings.identity_secret, who)
    r = await session(bare_hub, body(who, signature))
    assert r.status_code == 200, r.text
    first = WidgetCustomer(bare_hub.url, token=r.json()["token"])
    assert first.customer_id == identified_customer_id(who)
    kept = record(bare_hub, first.customer_id)
    assert kept is not None and kept.verified_at is not None
    assert (kept.external_id, kept.name, kept.email, kept.phone) == (
        who.id,
        "Joana Prado",
        "joana@exemplo.com.br",
        "+5511987654321",
    )

    await first.connect()
    await first.say("Meu pedido 4411 não chegou")
    await first.close()

    # Another browser: no token, only the shop's signed identity → the same customer, her history.
    r = await session(bare_hub, body(who, signature))
    other = await WidgetCustomer(bare_hub.url, token=r.json()["token"]).connect()
    assert other.customer_id == first.customer_id
    assert "Meu pedido 4411 não chegou" in [m["text"] for m in other.history["messages"]]
    await other.close()


async def test_the_identity_outranks_another_customers_token(bare_hub: RunningHub) -> None:
    anonymous = await WidgetCustomer(bare_hub.url).connect()
    await anonymous.close()
    who = joana()
    r = await session(bare_hub, body(who, sign_identity(bare_hub.settings.identity_secret, who), token=anonymous.token))
    assert WidgetCustomer(bare_hub.url, token=r.json()["token"]).customer_id == identified_customer_id(who)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda hub, who: sign_identity("a-secret-the-shop-does-not-have-0123", who), id="another secret"),
        pytest.param(lambda hub, who: None, id="no signature"),
        pytest.param(lambda hub, who: "", id="empty signature"),
        pytest.param(lambda hub, who: "zz" * 32, id="not hex"),
        # a genuine signature of another customer, replayed with this customer's id
        pytest.param(lambda hub, who: sign_identity(hub.settings.identity_secret, joana("cliente-0001")), id="replayed"),
        # a genuine signature of this customer, replayed with another e-mail
        pytest.param(
            lambda hub, who: sign_identity(
                hub.settings.identity_secret, CustomerIdentity(who.id, who.name, "x@x.com", who.phone)
            ),
            id="other e-mail",
        ),
    ],
)
async def test_a_forged_identity_is_refused_and_nothing_is_kept(bare_hub: RunningHub, forge) -> None:
    who = joana()
    r = await session(bare_hub, body(who, forge(bare_hub, who)))
    assert r.status_code == 403
    assert "identity" in r.json()["detail"] and "docs/identity.md" in r.json()["detail"]
    assert r.headers["access-control-allow-origin"] == "*"  # the shop's page can read why
    assert record(bare_hub, identified_customer_id(who)) is None
    # The widget then carries on as an anonymous visitor.
    anonymous = await session(bare_hub, {"token": None})
    assert anonymous.status_code == 200
    assert not WidgetCustomer(bare_hub.url, token=anonymous.json()["token"]).customer_id.startswith("w-id-")


async def test_an_identity_that_could_be_read_two_ways_is_refused(bare_hub: RunningHub) -> None:
    who = CustomerIdentity(id="cliente-7", name="Joana\nemail=outra@exemplo.com")
    r = await session(bare_hub, body(who, sign_identity(bare_hub.settings.identity_secret, who)))
    assert r.status_code == 422
    too_long = await session(bare_hub, body(CustomerIdentity(id="x" * 121), "0" * 64))
    assert too_long.status_code == 422


def test_the_shop_gets_the_desks_identity_secret_from_the_command_line(
    bare_hub: RunningHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import main
    from hub.settings import Settings

    # Another process reading the same secrets file, as `balcao widget identity-secret` on the desk's machine.
    monkeypatch.setattr("hub.cli.get_settings", lambda: Settings(environment="test", secrets_file=bare_hub.settings.secrets_file))
    assert main(["widget", "identity-secret"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret == bare_hub.settings.identity_secret and len(secret) >= 40
