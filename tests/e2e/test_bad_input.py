"""What customers send that the desk must refuse politely, and a Rasa that does not answer."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

import handoff
from tests.support import RunningHub, WidgetCustomer, bot_texts, hub_settings, start_hub


async def messages_of(hub: RunningHub, customer_id: str) -> list:
    async def read() -> list:
        async with hub.app.state.desk.sessions() as session:
            conversation = await handoff.latest_conversation(session, channel="widget", customer_id=customer_id)
            return list(await handoff.conversation_history(session, conversation.id)) if conversation else []

    return hub.call(read)


@pytest.mark.rasa
async def test_a_message_over_the_limit_is_refused_politely_and_nothing_is_stored(hub: RunningHub) -> None:
    carla = await WidgetCustomer(hub.url).connect()
    turn = await carla.say("x" * 20_000)
    assert turn[-1]["type"] == "error" and turn[-1]["code"] == "too_long"
    assert "4000 caracteres" in turn[-1]["message"]
    assert await messages_of(hub, carla.customer_id) == []
    # The chat still works afterwards.
    assert bot_texts(await carla.say("oi"))
    await carla.close()


@pytest.mark.rasa
async def test_an_empty_message_is_refused(hub: RunningHub) -> None:
    dora = await WidgetCustomer(hub.url).connect()
    turn = await dora.say("   ")
    assert (turn[-1]["type"], turn[-1]["code"]) == ("error", "empty")
    assert await messages_of(hub, dora.customer_id) == []
    await dora.close()


@pytest.mark.rasa
async def test_markup_from_a_customer_is_stored_and_returned_as_text(hub: RunningHub) -> None:
    eve = await WidgetCustomer(hub.url).connect()
    payload = '<img src=x onerror="alert(1)"> quero falar com um atendente'
    await eve.say(payload)
    await eve.close()
    again = await WidgetCustomer(hub.url, token=eve.token).connect()
    assert again.history["messages"][0]["text"] == payload  # the same characters, escaped where shown
    await again.close()


@pytest.mark.rasa
async def test_a_forged_or_unknown_widget_token_is_refused(hub: RunningHub) -> None:
    genuine = await WidgetCustomer(hub.url).connect()
    await genuine.close()
    forged = genuine.token[:-3] + ("AAA" if not genuine.token.endswith("AAA") else "BBB")
    r = httpx.post(f"{hub.url}/widget/session", json={"token": forged})  # noqa: ASYNC210 - the hub runs in its own thread
    assert r.status_code == 403 and "not valid" in r.json()["detail"]
    for token in (forged, "w-guessed-id", ""):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(hub.url.replace("http", "ws") + f"/widget/ws?token={token}")
        assert refused.value.response.status_code == 403


@pytest.mark.rasa
async def test_a_button_payload_that_was_not_offered_is_treated_as_text(hub: RunningHub, rasa) -> None:
    fabio = await WidgetCustomer(hub.url).connect()
    await fabio.say("oi")
    turn = await fabio.say("sair", payload="/end_conversation")
    assert not any("De 0 a 10" in t for t in bot_texts(turn))
    await fabio.close()


class SilentServer:
    """Accepts connections and never answers: a Rasa that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def hub_with_silent_rasa(tmp_path: Path, index_cache: Path) -> Iterator[RunningHub]:
    silent = SilentServer()
    settings = hub_settings(
        tmp_path,
        cache_dir=index_cache,
        rasa_url=f"http://127.0.0.1:{silent.port}",
        rasa_timeout_s=0.5,
        rasa_attempts=2,
        bot_wait_s=1.0,
    )
    hub = start_hub(settings)
    yield hub
    hub.stop()
    silent.close()


async def test_when_rasa_does_not_answer_the_customer_is_told_and_queued(hub_with_silent_rasa: RunningHub) -> None:
    hub = hub_with_silent_rasa
    gil = await WidgetCustomer(hub.url).connect()
    turn = await asyncio.wait_for(gil.say("qual o prazo de entrega?"), 10)
    assert bot_texts(turn) == [
        # A Rasa that takes the turn and never answers is, to the hub, a saturated one: the bounded wait ends.
        "Desculpe a demora: estamos com muita procura agora. Vou te passar para uma pessoa, que já vê sua mensagem.",
        "Você é o 1º da fila. Espera estimada: cerca de 5 min.",
    ]
    assert any(f.get("state") == "queued" for f in turn)
    stored = await messages_of(hub, gil.customer_id)
    assert [m.sender for m in stored] == ["customer", "system", "system"]

    async def reason() -> tuple:
        async with hub.app.state.desk.sessions() as session:
            c = await handoff.latest_conversation(session, channel="widget", customer_id=gil.customer_id)
            return c.state, c.escalation_reason, c.priority

    assert hub.call(reason) == ("queued", "bot_busy", int(handoff.Priority.FAILURE))
    await gil.close()
