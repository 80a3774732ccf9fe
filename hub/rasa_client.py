"""Talking to the Rasa server: the REST channel for customers' turns, the HTTP API for endings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

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


class RasaClient:
    """A bounded wait, twice: a customer is never left waiting on a Rasa that does not answer."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float, attempts: int) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_s))
        self._token = token
        self._attempts = max(1, attempts)

    async def aclose(self) -> None:
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
