"""The `balcao` command line, as `make run` uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.cli import import_kb, main
from hub.db import run_migrations
from tests.kb_index.test_markdown import GOOD
from tests.support import hub_settings


def test_import_names_a_malformed_file_and_its_field_and_loads_the_rest(
    tmp_path: Path, index_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "bom.md").write_text(GOOD, encoding="utf-8")
    (kb / "ruim.md").write_text(GOOD.replace("id: horario-loja", "id: outro").replace("team: geral", "team: vendas"), encoding="utf-8")
    settings = hub_settings(tmp_path, cache_dir=index_cache, kb_dir=kb)
    run_migrations(settings.database_url)

    assert asyncio.run(import_kb(settings, kb)) == 1
    out = capsys.readouterr()
    assert f"skipped: {kb / 'ruim.md'}: field 'team'" in out.err
    assert "1 articles read" in out.out and "1 new or changed" in out.out

    assert asyncio.run(import_kb(settings, kb)) == 1
    assert "0 new or changed" in capsys.readouterr().out  # importing again changes nothing


def test_the_search_command_refuses_an_empty_question(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kb", "search", "   "])
    assert "give a question" in capsys.readouterr().err
