"""Learning from use, where the desk sees it happen: a customer's question the customer confirmed
an article solved, or whose article the customer chose among the options offered, is kept as a
candidate question of that article for an editor (``kb_index.learning``). Called inside the turn's
unit of work; a failure here never costs the customer the turn."""

from __future__ import annotations

import json
import logging
import re

from sqlalchemy.ext.asyncio import AsyncSession

import handoff
import kb_index
from handoff import Conversation

logger = logging.getLogger(__name__)
# The payload of an offered article's button, as bot.actions' clarification writes it.
_CHOICE = re.compile(r"/choose_article(\{.*\})", re.DOTALL)


def chosen_article(payload: str | None) -> str | None:
    """The article id of a tapped option's payload (``/choose_article{"article": "..."}``), else None."""
    match = _CHOICE.fullmatch(payload or "")
    if not match:
        return None
    try:
        article = json.loads(match.group(1)).get("article")
    except (ValueError, AttributeError):
        return None
    return article if isinstance(article, str) and article else None


async def learn_from_choice(session: AsyncSession, conversation: Conversation, payload: str | None) -> None:
    """The customer tapped one of the offered articles: its question becomes a candidate of it."""
    article = chosen_article(payload)
    if article is None:
        return
    question = await handoff.clarified_question(session, conversation.id)
    if question:
        await _propose(session, question, conversation.language, article, "chosen", conversation.id)


async def learn_from_confirmation(session: AsyncSession, conversation_id: str) -> None:
    """The customer said the article solved it: the question becomes a candidate of that article."""
    found = await handoff.confirmed_answer(session, conversation_id)
    if found is not None:
        await _propose(session, found.question, found.lang, found.article_id, "confirmed", conversation_id)


async def _propose(session: AsyncSession, text: str, lang: str, article: str, source: str, conversation_id: str) -> None:
    try:
        await kb_index.propose_question(
            session, text=text, lang=lang, article_id=article, source=source, conversation_id=conversation_id
        )
    except Exception:  # the editors' list must never cost the customer the turn
        logger.exception("could not keep a candidate question")
