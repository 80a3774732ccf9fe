"""The languages Balcão speaks to customers and staff: one definition for every package."""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["pt-BR", "pt-PT", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "pt-BR"


def supported(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """``lang`` when Balcão speaks it, else ``default`` (Brazilian Portuguese unless told)."""
    return lang if lang in LANGUAGES else default
