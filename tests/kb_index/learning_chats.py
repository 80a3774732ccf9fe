"""Conversations that teach the knowledge base, made through the desk's own flows on a running hub
(what the Rasa actions and the widget call): a customer confirms an answer, or chooses an article
among the options offered."""

from __future__ import annotations

import json
import uuid

import handoff
from connectors.base import InboundMessage
from tests.support import RunningHub


def confirmed_chat(hub: RunningHub, question: str, article: str, *, lang: str = "pt-BR") -> str:
    """The bot answered ``question`` with ``article`` and the customer said it solved it."""

    async def make() -> str:
        desk = hub.app.state.desk
        async with desk.unit_of_work() as session:
            chat = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language=lang)
            await handoff.record_message(session, chat, sender="customer", text=question)
            await handoff.record_message(session, chat, sender="bot", text="…", data={"kb": "answer", "article": article})
            await handoff.record_message(session, chat, sender="customer", text="sim")
        await desk.endings.begin_ending(chat.id, ending="resolved")  # what the bot's "yes" action calls
        return chat.id

    return hub.call(make)


def chosen_chat(hub: RunningHub, question: str, offered: list[str], chosen: str, *, lang: str = "pt-BR") -> str:
    """The bot offered ``offered`` for ``question``; the customer tapped ``chosen`` in the widget."""
    customer = uuid.uuid4().hex

    def payload(article: str) -> str:
        return "/choose_article" + json.dumps({"article": article})

    async def make() -> str:
        desk = hub.app.state.desk
        async with desk.unit_of_work() as session:
            chat = await handoff.start_conversation(session, channel="widget", customer_id=customer, language=lang)
            await handoff.record_message(session, chat, sender="customer", text=question)
            buttons = [{"title": a, "payload": payload(a)} for a in offered]
            await handoff.record_message(
                session, chat, sender="bot", text="Qual destes?", data={"kb": "clarify"}, buttons=buttons
            )
        tap = InboundMessage(channel="widget", customer_id=customer, text=chosen, language=lang, payload=payload(chosen))
        await desk.handle_inbound(tap)
        return chat.id

    return hub.call(make)
