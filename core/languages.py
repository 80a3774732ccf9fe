"""The languages Balcão speaks to customers and staff: one definition for every package."""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["pt-BR", "pt-PT", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "pt-BR"


def supported(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """``lang`` when Balcão speaks it, else ``default`` (Brazilian Portuguese unless told)."""
    return lang if lang in LANGUAGES else default


def page_language(asked: str | None, accept_language: str | None) -> Language:
    """The language a staff page speaks: ``?lang=`` when given, else the browser's first choice
    (``Accept-Language``), as the console and the editor choose it — English for any ``en``,
    European Portuguese for ``pt-PT``, Brazilian Portuguese otherwise."""
    wanted = (asked or accept_language or DEFAULT_LANGUAGE).split(",")[0].split(";")[0].strip().lower()
    if wanted.startswith("en"):
        return "en"
    if wanted.startswith("pt-pt") or wanted == "pt_pt":
        return "pt-PT"
    return "pt-BR"
