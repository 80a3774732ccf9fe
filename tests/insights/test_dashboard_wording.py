"""The dashboard's and the editor's words: every language has every word, the page speaks the
reader's language, and dates, times and shares are written in the desk's time zone and language."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.languages import LANGUAGES, page_language
from insights.dashboard_texts import SCRIPT_KEYS, TEXTS
from insights.display import Display
from kb_index.editor_texts import TEXTS as EDITOR_TEXTS


@pytest.mark.parametrize("table", [TEXTS, EDITOR_TEXTS], ids=["dashboard", "editor"])
def test_every_language_has_every_word(table: dict[str, dict[str, str]]) -> None:
    assert set(table) == set(LANGUAGES)
    keys = set(table["en"])
    for lang in LANGUAGES:
        assert set(table[lang]) == keys, lang
    assert set(SCRIPT_KEYS) <= set(TEXTS["en"])


@pytest.mark.parametrize(
    ("asked", "header", "chosen"),
    [
        (None, "pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"),
        (None, "pt-PT,pt;q=0.9", "pt-PT"),
        (None, "pt", "pt-BR"),
        (None, "en-US,en;q=0.9", "en"),
        (None, None, "pt-BR"),
        ("pt-PT", "en-US", "pt-PT"),
        ("en", "pt-BR", "en"),
        ("xx", "en", "pt-BR"),
    ],
)
def test_a_staff_page_speaks_the_asked_language_else_the_browsers(asked: str | None, header: str | None, chosen: str) -> None:
    assert page_language(asked, header) == chosen


def test_times_are_written_in_the_desks_time_zone_and_the_readers_language() -> None:
    late_utc = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)  # still the 6th in São Paulo (UTC−3)
    pt = Display("pt-BR", "America/Sao_Paulo")
    en = Display("en", "America/Sao_Paulo")
    assert pt.when(late_utc) == "06/12/2026 23:30"
    assert pt.when(late_utc.replace(tzinfo=None)) == "06/12/2026 23:30"  # naive from the database: UTC
    assert en.when(late_utc) == "2026-12-06 23:30"
    assert Display("pt-PT", "Europe/Lisbon").when(late_utc) == "07/12/2026 02:30"
    assert (pt.short_day(date(2026, 12, 6)), en.short_day(date(2026, 12, 6))) == ("06/12", "Dec 06")
    assert (pt.percent(0.425), en.percent(0.425), pt.percent(None)) == ("42,5 %", "42.5 %", "—")
    assert (pt.code("ending", "agent_closed"), en.code("ending", "agent_closed")) == (
        "encerrada pelo agente",
        "closed by the agent",
    )
    assert pt.code("ending", "something_new") == "something_new"
    assert pt.weekdays[0] == "seg" and en.weekdays[6] == "Sun"
