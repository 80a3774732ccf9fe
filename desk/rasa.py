"""Talking to the Rasa server (the REST channel for customers' turns, the HTTP API for endings),
and the bridge that asks it on a customer's turn and stores what it answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

import handoff
from desk.queues import Queues
from desk.texts import say
from handoff import Conversation, Priority, State

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer in time (after the retries) or answered with an error."""


@dataclass
class BotReply:
    """One message from the bot: text and buttons, plus data about it (e.g. the article used)."""

    text: str | None = None
    buttons: list[dict] = field(default_factory=list)
    custom: dict | None = None


def _parse(messages: list[dict]) -> list[BotReply]:
    replies = []
    for m in messages:
        custom = m.get("custom") if isinstance(m.get("custom"), dict) else None
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in (m.get("buttons") or [])
            if isinstance(b, dict)
        ]
        replies.append(BotReply(text=m.get("text"), buttons=buttons, custom=custom))
    return replies


def _messages(replies: list[BotReply]) -> list[tuple[str, list[dict] | None, dict | None]]:
    """The messages to store, as (text, buttons, data). Rasa sends a response's custom data (e.g. the
    knowledge base's "kb" mark) as a message of its own after the text: it is merged into the text's
    message *before* that is recorded, so the KPI summaries, which fold each message as it is
    appended, see the mark (the unanswered-question rate counts it)."""
    messages: list[tuple[str, list[dict] | None, dict | None]] = []
    for reply in replies:
        custom = dict(reply.custom or {})
        text = reply.text or custom.pop("text", None)
        if text:
            messages.append((str(text), reply.buttons or None, custom or None))
        elif custom and messages:
            last_text, last_buttons, last_data = messages[-1]
            messages[-1] = (last_text, last_buttons, {**(last_data or {}), **custom})
    return messages


class RasaClient:
    """A bounded wait, twice: a customer is never left waiting on a Rasa that does not answer."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float, attempts: int) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_s))
        self._token = token
        self._attempts = max(1, attempts)

    async def aclose(self) -> None:
        """Close the HTTP connections (when the hub stops)."""
        await self._http.aclose()

    async def _post(self, url: str, payload: dict, *, params: dict | None = None) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self._attempts):
            try:
                response = await self._http.post(url, json=payload, params=params)
                if response.status_code >= 500:
                    raise RasaUnavailable(f"Rasa answered {response.status_code}")
                return response
            except (httpx.HTTPError, RasaUnavailable) as exc:
                last = exc
                logger.warning("Rasa call %s failed (attempt %d): %s", url, attempt + 1, exc)
        raise RasaUnavailable(str(last))

    async def send_message(self, sender: str, text: str, metadata: dict) -> list[BotReply]:
        """One customer turn through the REST channel; returns the bot's replies."""
        response = await self._post("/webhooks/rest/webhook", {"sender": sender, "message": text, "metadata": metadata})
        if response.status_code != 200:
            raise RasaUnavailable(f"Rasa answered {response.status_code}: {response.text[:200]}")
        return _parse(response.json())

    async def trigger_intent(self, sender: str, intent: str, entities: dict | None = None) -> list[BotReply]:
        """Run an external event (e.g. the ending) in the conversation; returns the bot's replies."""
        response = await self._post(
            f"/conversations/{sender}/trigger_intent",
            {"name": intent, "entities": entities or {}},
            params={"output_channel": "latest", "token": self._token},
        )
        if response.status_code != 200:
            raise RasaUnavailable(f"Rasa answered {response.status_code}: {response.text[:200]}")
        return _parse(response.json().get("messages") or [])

    async def is_ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        try:
            response = await self._http.get("/status", params={"token": self._token})
            return response.status_code == 200 and bool(response.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False


class RasaBridge:
    """Asks Rasa on a customer's turn and stores its replies; when Rasa does not answer, the
    customer is told and the chat goes to a person."""

    def __init__(self, client: RasaClient, queues: Queues) -> None:
        self.client = client
        self.queues = queues

    async def ask(self, conversation: Conversation, text: str) -> None:
        """One turn: Rasa's replies are stored (or the bot failed), then a customer the turn
        queued is told their place."""
        metadata = {"language": conversation.language, "channel": conversation.channel}
        try:
            replies = await self.client.send_message(conversation.id, text, metadata)
        except RasaUnavailable:
            await self.bot_failed(conversation.id)
        else:
            if not await self.store_replies(conversation.id, replies):
                return  # not queued by this turn (most turns): no place in a queue to tell, no transaction
        await self.queues.announce(conversation.id)

    async def store_replies(self, conversation_id: str, replies: list[BotReply]) -> bool:
        """Record the bot's replies in the conversation (custom data is kept for the agents).
        Returns whether the conversation is queued for a person now (e.g. the bot handed it over)."""
        async with self.queues.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            for text, buttons, data in _messages(replies):
                # Custom data (e.g. the article the bot used) is kept with the message for agents.
                await handoff.record_message(session, conversation, sender="bot", text=text, buttons=buttons, data=data)
            return conversation.state == State.QUEUED

    async def bot_failed(self, conversation_id: str) -> None:
        """Rasa did not answer: tell the customer and queue the chat for a person."""
        async with self.queues.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            await handoff.record_message(session, conversation, sender="system", text=say("bot_failure", conversation.language))
            if conversation.state == State.BOT:
                await handoff.escalate_conversation(
                    session, conversation_id, team_id="geral", priority=Priority.FAILURE, reason="bot_failure", actor="system"
                )
            elif conversation.state == State.CLOSING:
                await handoff.end_conversation(session, conversation_id, actor="system", reason="bot_failure")
