"""The survey's questions, per language, with the company's name: defaults here, overrides from settings."""

from __future__ import annotations

from collections.abc import Mapping

QUESTIONS = {
    "pt-BR": "De 0 a 10, qual a chance de você recomendar a {company} para um amigo?",
    "pt-PT": "De 0 a 10, qual a probabilidade de recomendar a {company} a um amigo?",
    "en": "From 0 to 10, how likely are you to recommend {company} to a friend?",
}
REASON_QUESTIONS = {
    "pt-BR": "Obrigado! Qual o principal motivo da sua nota? (opcional)",
    "pt-PT": "Obrigado! Qual é o principal motivo da sua nota? (opcional)",
    "en": "Thanks! What is the main reason for your score? (optional)",
}
SKIP = {"pt-BR": "Pular", "pt-PT": "Saltar", "en": "Skip"}


def survey_wording(kind: str, lang: str, company: str, overrides: Mapping[str, str] | None = None) -> str:
    """The ``"score"`` or ``"reason"`` question in ``lang`` (Portuguese when unknown); an override for
    the language wins over the default. ``{company}`` is replaced by the company's name."""
    defaults = QUESTIONS if kind == "score" else REASON_QUESTIONS
    texts = {**defaults, **(overrides or {})}
    text = texts.get(lang) or texts.get(lang.split("-")[0]) or texts["pt-BR"]
    return text.replace("{company}", company)


def skip_title(lang: str) -> str:
    """The title of the button that skips the reason question."""
    return SKIP.get(lang, SKIP["pt-BR"])
