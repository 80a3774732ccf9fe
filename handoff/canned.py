"""Canned responses: an agent types ``/shortcut`` and gets a ready reply with the customer's name."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.languages import LANGUAGES
from handoff.errors import Refusal
from handoff.models import CannedResponse, Team

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


MAX_TEXT = 2000
EVERYONE = ""
"""The team filter of ``find_canned`` that keeps only the replies for every team."""


class InvalidCannedResponse(Refusal):
    """A shortcut, text, language or team that cannot be used, or a reply that does not exist;
    the message says why in English, ``key`` lets a page say it in the reader's language."""

    def __init__(self, message: str, *, key: str = "bad_canned", **params: object) -> None:
        super().__init__(message, key=key, **params)


def render_canned(text: str, *, customer_name: str | None, agent_name: str) -> str:
    """Fill in the variables; an unknown ``{variable}`` stays as written. Without the customer's
    name, the name goes with the comma or space before it ("Estou verificando. Só um instante.")."""
    if not customer_name:
        text = _NAME_WITH_SEPARATOR.sub("", text)
    values = {"customer_name": customer_name or "", "agent_name": agent_name}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


async def _checked(
    session: AsyncSession, *, shortcut: str, lang: str, text: str, team_id: str | None, replacing: int | None = None
) -> tuple[str, str, str | None]:
    """The reply's shortcut (lowercased, without its "/"), text and team, or ``InvalidCannedResponse``
    saying what to correct; nothing is written."""
    shortcut = shortcut.strip().lstrip("/").lower()
    if not _SHORTCUT.match(shortcut):
        raise InvalidCannedResponse(
            "a shortcut is 1–40 lowercase letters, digits, - or _ (typed as /shortcut)", key="canned_bad_shortcut"
        )
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidCannedResponse(f"the text must have 1 to {MAX_TEXT} characters", key="canned_bad_text")
    if lang not in LANGUAGES:
        raise InvalidCannedResponse(f"the language is one of {', '.join(LANGUAGES)}", key="canned_bad_lang")
    team_id = team_id or None
    if team_id is not None:
        team = await session.get(Team, team_id)
        if team is None or team.archived_at is not None:
            raise InvalidCannedResponse(f"there is no active team {team_id!r}", key="unknown_team", team=team_id)
    taken = select(CannedResponse.id).where(CannedResponse.shortcut == shortcut, CannedResponse.lang == lang)
    if replacing is not None:
        taken = taken.where(CannedResponse.id != replacing)
    if (await session.execute(taken)).first():
        raise InvalidCannedResponse(
            f"/{shortcut} already exists in {lang}: choose another shortcut", key="canned_taken", shortcut=shortcut, language=lang
        )
    return shortcut, text, team_id


async def add_canned_response(
    session: AsyncSession, *, shortcut: str, lang: str, text: str, team_id: str | None = None
) -> CannedResponse:
    """Create a canned response (shortcut unique per language; ``team_id`` None: for every team)."""
    shortcut, text, team_id = await _checked(session, shortcut=shortcut, lang=lang, text=text, team_id=team_id)
    canned = CannedResponse(shortcut=shortcut, lang=lang, text=text, team_id=team_id)
    session.add(canned)
    await session.flush()
    return canned


async def get_canned(session: AsyncSession, canned_id: int) -> CannedResponse:
    """One canned response, or ``InvalidCannedResponse`` (key ``canned_unknown``)."""
    canned = await session.get(CannedResponse, canned_id)
    if canned is None:
        raise InvalidCannedResponse(f"there is no canned response {canned_id}", key="canned_unknown")
    return canned


async def update_canned_response(
    session: AsyncSession, canned_id: int, *, shortcut: str, lang: str, text: str, team_id: str | None
) -> tuple[CannedResponse, dict[str, list]]:
    """Change a canned response as a whole (checked as a new one); returns it and what changed,
    old and new (for the audit log)."""
    canned = await get_canned(session, canned_id)
    shortcut, text, team_id = await _checked(
        session, shortcut=shortcut, lang=lang, text=text, team_id=team_id, replacing=canned_id
    )
    changed: dict[str, list] = {}
    for name, value in (("shortcut", shortcut), ("lang", lang), ("text", text), ("team_id", team_id)):
        if getattr(canned, name) != value:
            changed[name] = [getattr(canned, name), value]
            setattr(canned, name, value)
    await session.flush()
    return canned, changed


async def delete_canned_response(session: AsyncSession, canned_id: int) -> CannedResponse:
    """Remove a canned response; returns it as it was (for the audit log)."""
    canned = await get_canned(session, canned_id)
    await session.delete(canned)
    await session.flush()
    return canned


def folded(text: str) -> str:
    """``text`` lowercased without accents: what searches compare ("devolução" → "devolucao")."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def matches(canned: CannedResponse, words: str) -> bool:
    """Whether every word of ``words`` begins the shortcut or a word of the text (accents ignored)."""
    own = [folded(canned.shortcut), *re.findall(r"\w+", folded(canned.text))]
    return all(any(w.startswith(q) for w in own) for q in re.findall(r"[\w-]+", folded(words)))


async def find_canned(
    session: AsyncSession, *, lang: str | None = None, team_id: str | None = None, words: str = ""
) -> Sequence[CannedResponse]:
    """The canned responses the admin page lists: of one language and one team (``EVERYONE``: only
    those for every team) when given, whose shortcut or text has ``words``; by language and shortcut."""
    stmt = select(CannedResponse).order_by(CannedResponse.lang, CannedResponse.shortcut)
    if lang:
        stmt = stmt.where(CannedResponse.lang == lang)
    if team_id == EVERYONE:
        stmt = stmt.where(CannedResponse.team_id.is_(None))
    elif team_id is not None:
        stmt = stmt.where(CannedResponse.team_id == team_id)
    found = (await session.execute(stmt)).scalars().all()
    return [c for c in found if matches(c, words)] if words.strip() else found


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
