"""Talking to the Rasa server (the REST channel for customers' turns, the HTTP API for endings),
and the bridge that asks it on a customer's turn and stores what it answers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx

import handoff
from desk.backpressure import TurnClock
from desk.queues import Queues
from desk.texts import say
from handoff import Conversation, Priority, State

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer in time (after the retries) or answered with an error."""


class RasaBusy(RasaUnavailable):
    """Rasa took the turn but did not answer within the customer's bounded wait (saturated)."""


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
        self._timeout_s = timeout_s
        self._attempts = max(1, attempts)

    async def aclose(self) -> None:
        """Close the HTTP connections (when the hub stops)."""
        await self._http.aclose()

    async def _post(
        self, url: str, payload: dict, *, params: dict | None = None, within_s: float | None = None
    ) -> httpx.Response:
        """POST, tried ``attempts`` times on errors. A Rasa that took the request but did not answer
        in time is not asked again (the turn or ending would run twice): ``RasaBusy``. Only a
        refused or cut connection or a 5xx is tried again (another Rasa server, behind a load
        balancer). With ``within_s`` (a customer's turn), Rasa is waited for up to that long in all."""
        deadline = None if within_s is None else time.monotonic() + within_s
        last: Exception | None = None
        for attempt in range(self._attempts):
            timeout: httpx.Timeout | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                timeout = httpx.Timeout(left, connect=min(self._timeout_s, left))
            try:
                response = await self._http.post(url, json=payload, params=params, timeout=timeout)
                if response.status_code >= 500:
                    raise RasaUnavailable(f"Rasa answered {response.status_code}")
                return response
            except httpx.TimeoutException as exc:
                if not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):  # Rasa has it: asking again would run it twice
                    logger.warning("Rasa call %s: no answer in time (Rasa busy): %r", url, exc)
                    raise RasaBusy("no answer in time") from exc
                last = exc
                logger.warning("Rasa call %s could not connect (attempt %d): %r", url, attempt + 1, exc)
            except (httpx.HTTPError, RasaUnavailable) as exc:
                last = exc
                logger.warning("Rasa call %s failed (attempt %d): %s", url, attempt + 1, exc)
        if deadline is not None and deadline <= time.monotonic():
            raise RasaBusy(f"no answer within {within_s:.1f} s ({last})")
        raise RasaUnavailable(str(last))

    async def send_message(self, sender: str, text: str, metadata: dict, *, within_s: float | None = None) -> list[BotReply]:
        """One customer turn through the REST channel; returns the bot's replies. ``within_s``:
        how long the customer still waits (``RasaBusy`` after it).

        Every turn of this assistant says something: an empty answer is Rasa's REST channel hiding
        a failure (it logs ``rest.message.received.failure``, e.g. when its lock store is
        unreachable, and answers 200 with nothing), so it is asked again, then treated as down."""
        started = time.monotonic()
        for attempt in range(self._attempts):
            left = None if within_s is None else within_s - (time.monotonic() - started)
            payload = {"sender": sender, "message": text, "metadata": metadata}
            response = await self._post("/webhooks/rest/webhook", payload, within_s=left)
            if response.status_code != 200:
                raise RasaUnavailable(f"Rasa answered {response.status_code}: {response.text[:200]}")
            replies = _parse(response.json())
            if replies:
                return replies
            logger.warning("Rasa answered nothing to a turn of %s (attempt %d): see its log", sender, attempt + 1)
        raise RasaUnavailable("Rasa answered nothing (its REST channel hides the error: see Rasa's log)")

    async def trigger_intent(
        self, sender: str, intent: str, entities: dict | None = None, *, within_s: float | None = None
    ) -> list[BotReply]:
        """Run an external event (e.g. the ending) in the conversation; returns the bot's replies.
        ``within_s``: how long a busy Rasa is waited for (``RasaBusy`` after it)."""
        response = await self._post(
            f"/conversations/{sender}/trigger_intent",
            {"name": intent, "entities": entities or {}},
            params={"output_channel": "latest", "token": self._token},
            within_s=within_s,
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

    async def ask(self, conversation: Conversation, text: str, clock: TurnClock | None = None) -> None:
        """One turn: Rasa's replies are stored (or the bot failed, or was too slow for the
        customer's bounded wait, ``clock``), then a customer the turn queued is told their place."""
        metadata = {"language": conversation.language, "channel": conversation.channel}
        try:
            if clock is not None and clock.remaining() <= 0:  # their earlier turns used the whole wait
                raise RasaBusy("the wait ended before Rasa could be asked")
            within = clock.remaining() if clock is not None else None
            replies = await self.client.send_message(conversation.id, text, metadata, within_s=within)
        except RasaBusy:
            await self.bot_too_slow(conversation.id)
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
        await self._to_a_person(conversation_id, text="bot_failure", reason="bot_failure")

    async def bot_too_slow(self, conversation_id: str) -> None:
        """Rasa is saturated: the customer waited ``bot_wait_s`` (seeing the bot typing); tell them
        politely and queue the chat for a person. Their message is already stored: the agent reads it."""
        await self._to_a_person(conversation_id, text="bot_busy", reason="bot_busy")

    async def _to_a_person(self, conversation_id: str, *, text: str, reason: str) -> None:
        """One unit of work: the customer is told (``text`` in their language) and the chat queued
        (a chat that was closing ends instead); the events go out after commit."""
        async with self.queues.unit_of_work() as session:
            # Locked: Rasa may still be running the turn the hub stopped waiting for, and its action
            # may queue the chat meanwhile; the state read here must be the one the change starts from.
            conversation = await handoff.get_conversation(session, conversation_id, for_update=True)
            await handoff.record_message(session, conversation, sender="system", text=say(text, conversation.language))
            if conversation.state == State.BOT:
                await handoff.escalate_conversation(
                    session, conversation_id, team_id="geral", priority=Priority.FAILURE, reason=reason, actor="system"
                )
            elif conversation.state == State.CLOSING:
                await handoff.end_conversation(session, conversation_id, actor="system", reason=reason)
