"""Canned responses: an agent types ``/shortcut`` and gets a ready reply with the customer's name."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import CannedResponse

_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
VARIABLES = ("customer_name", "agent_name")
_NAME_WITH_SEPARATOR = re.compile(r"[,\s]*\{customer_name\}")
DEFAULTS = {
    "pt-BR": {
        "ola": "Olá, {customer_name}! Sou {agent_name} e vou te ajudar. Um momento, por favor.",
        "aguarde": "Estou verificando, {customer_name}. Só um instante.",
        "obrigado": "Obrigado pelo contato, {customer_name}! Posso ajudar em mais alguma coisa?",
    },
    "pt-PT": {
        "ola": "Olá, {customer_name}! Sou {agent_name} e vou ajudá-lo. Um momento, por favor.",
        "aguarde": "Estou a verificar, {customer_name}. Só um instante.",
        "obrigado": "Obrigado pelo contacto, {customer_name}! Posso ajudar em mais alguma coisa?",
    },
    "en": {
        "ola": "Hello {customer_name}! I'm {agent_name} and I'll help you. One moment, please.",
        "aguarde": "I'm checking that, {customer_name}. Just a moment.",
        "obrigado": "Thank you for contacting us, {customer_name}! Anything else I can help with?",
    },
}


class InvalidCannedResponse(ValueError):
    """A shortcut or text that cannot be used; the message says why."""


def render_canned(text: str, *, customer_name: str | None, agent_name: str) -> str:
    """Fill in the variables; an unknown ``{variable}`` stays as written. Without the customer's
    name, the name goes with the comma or space before it ("Estou verificando. Só um instante.")."""
    if not customer_name:
        text = _NAME_WITH_SEPARATOR.sub("", text)
    values = {"customer_name": customer_name or "", "agent_name": agent_name}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


async def add_canned_response(
    session: AsyncSession, *, shortcut: str, lang: str, text: str, team_id: str | None = None
) -> CannedResponse:
    """Create a canned response (shortcut unique per language)."""
    shortcut = shortcut.strip().lstrip("/").lower()
    if not _SHORTCUT.match(shortcut):
        raise InvalidCannedResponse("a shortcut is 1–40 lowercase letters, digits, - or _ (typed as /shortcut)")
    if not text.strip() or len(text) > 2000:
        raise InvalidCannedResponse("the text must have 1 to 2000 characters")
    existing = await session.execute(
        select(CannedResponse).where(CannedResponse.shortcut == shortcut, CannedResponse.lang == lang)
    )
    if existing.scalar_one_or_none():
        raise InvalidCannedResponse(f"/{shortcut} already exists in {lang}")
    canned = CannedResponse(shortcut=shortcut, lang=lang, text=text.strip(), team_id=team_id)
    session.add(canned)
    await session.flush()
    return canned


async def ensure_default_canned(session: AsyncSession) -> None:
    """The starter canned responses, when there are none yet."""
    if (await session.execute(select(CannedResponse.id).limit(1))).first():
        return
    for lang, items in DEFAULTS.items():
        for shortcut, text in items.items():
            session.add(CannedResponse(shortcut=shortcut, lang=lang, text=text))
    await session.flush()


async def list_canned(session: AsyncSession, *, lang: str, team_ids: Sequence[str] | None) -> Sequence[CannedResponse]:
    """The canned responses an agent of these teams can use in this language."""
    stmt = select(CannedResponse).where(CannedResponse.lang == lang).order_by(CannedResponse.shortcut)
    if team_ids is not None:
        stmt = stmt.where(or_(CannedResponse.team_id.is_(None), CannedResponse.team_id.in_(team_ids)))
    return (await session.execute(stmt)).scalars().all()
