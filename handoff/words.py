"""The company's words: its name, the bot's name, the widget's colour and greeting, the languages
offered to customers, and the out-of-hours and survey wordings. Admins set them on
``/admin/settings``; they are stored as one row per setting (``desk_words``) and override the
hub's settings (``BALCAO_COMPANY_NAME``, ``BALCAO_WIDGET_GREETING``...) and the built-in wording.
A setting with no row (or an empty wording for a language) means "the default"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.events import queue_event
from core.languages import LANGUAGES
from handoff.errors import Refusal
from handoff.events import WordsChanged
from handoff.models import Base

NAMES = ("company_name", "bot_name")
COLOUR = "widget_color"
LANGUAGES_OFFERED = "languages"
WORDINGS = ("greeting", "out_of_hours", "survey_question", "survey_reason_question")
"""The per-language wordings: ``{lang: text}``; an empty text is the default wording."""
KEYS = (*NAMES, COLOUR, LANGUAGES_OFFERED, *WORDINGS)
MAX_NAME = 80
MAX_WORDING = 500
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class DeskWord(Base):
    """One of the company's words, as the admin set it (``value`` is text, a list or a mapping)."""

    __tablename__ = "desk_words"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


def _check_name(key: str, value: object) -> str:
    if not isinstance(value, str) or len(value.strip()) > MAX_NAME:
        raise Refusal(f"{key}: at most {MAX_NAME} characters", key="words_too_long", field=key, limit=MAX_NAME)
    return value.strip()


def _check_colour(value: object) -> str:
    if not isinstance(value, str) or not (value.strip() == "" or _COLOUR.fullmatch(value.strip())):
        raise Refusal(f"{value!r} is not a colour: give it as #RRGGBB, e.g. #0b6e4f", key="bad_colour", colour=str(value)[:20])
    return value.strip().lower()


def _check_languages(value: object) -> list[str]:
    chosen = list(value) if isinstance(value, list | tuple) else []
    unknown = [str(v)[:20] for v in chosen if v not in LANGUAGES]
    if unknown:
        raise Refusal(
            f"the desk does not speak {', '.join(unknown)}: choose among {', '.join(LANGUAGES)}",
            key="unknown_language",
            language=", ".join(unknown),
        )
    if not chosen:
        raise Refusal("offer at least one language", key="no_language")
    return [lang for lang in LANGUAGES if lang in chosen]  # in the desk's order, each once


def _check_wording(key: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or any(lang not in LANGUAGES for lang in value):
        raise Refusal(f"{key}: give a text per language ({', '.join(LANGUAGES)})", key="bad_wording", field=key)
    texts = {lang: text.strip() for lang, text in value.items() if isinstance(text, str) and text.strip()}
    if any(len(text) > MAX_WORDING for text in texts.values()):
        raise Refusal(f"{key}: at most {MAX_WORDING} characters", key="words_too_long", field=key, limit=MAX_WORDING)
    return texts


def check_words(changes: Mapping[str, object]) -> dict[str, Any]:
    """The changes, checked and tidied (trimmed; a wording's empty languages left out), or a
    ``Refusal`` naming the first wrong one: an unknown setting, an over-long text, a colour that
    is not ``#RRGGBB``, no language offered or one the desk does not speak."""
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key in NAMES:
            checked[key] = _check_name(key, value)
        elif key == COLOUR:
            checked[key] = _check_colour(value)
        elif key == LANGUAGES_OFFERED:
            checked[key] = _check_languages(value)
        elif key in WORDINGS:
            checked[key] = _check_wording(key, value)
        else:
            raise Refusal(f"there is no setting {key[:40]!r}", key="unknown_setting", field=key[:40])
    return checked


async def read_words(session: AsyncSession) -> dict[str, Any]:
    """The words the admins set (a setting left at its default is absent)."""
    rows = (await session.execute(select(DeskWord))).scalars().all()
    return {row.key: row.value for row in rows if row.key in KEYS}


async def set_words(session: AsyncSession, changes: Mapping[str, object]) -> dict[str, list[Any]]:
    """Set the company's words (all checked before any is written: a refusal changes nothing).
    An empty name, colour or wording puts that setting back to its default. Returns what
    changed, ``{key: [old, new]}`` (``None`` for a default), for the audit log; when anything did,
    ``WordsChanged`` is sent after commit (every replica's desk forgets its copy)."""
    checked = check_words(changes)
    rows = {row.key: row for row in (await session.execute(select(DeskWord).where(DeskWord.key.in_(checked)))).scalars()}
    changed: dict[str, list[Any]] = {}
    for key, value in checked.items():
        row = rows.get(key)
        old = row.value if row else None
        new = value or None  # "", {} → the default
        if old == new:
            continue
        changed[key] = [old, new]
        if new is None and row is not None:
            await session.delete(row)
        elif row is None:
            session.add(DeskWord(key=key, value=new))
        else:
            row.value = new
    await session.flush()
    if changed:
        queue_event(session, WordsChanged())
    return changed
