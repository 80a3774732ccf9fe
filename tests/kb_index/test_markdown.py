"""Editors' Markdown files: a bad file is named with its field, and never stops the others."""

from pathlib import Path

import pytest

from handoff import DEFAULT_TEAMS
from hub.settings import ROOT
from kb_index.markdown import ArticleFileError, load_kb_dir, parse_article_file, render_article_file

GOOD = """---
id: horario-loja
lang: pt-BR
title: Qual o horário das lojas?
questions:
  - que horas a loja abre?
team: geral
tags: [lojas]
---
As lojas abrem das 10h às 22h.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_starter_knowledge_base_loads_without_errors() -> None:
    drafts, errors = load_kb_dir(ROOT / "data" / "kb", teams=DEFAULT_TEAMS)
    assert errors == []
    assert len([d for d in drafts if d.lang == "pt-BR"]) >= 25
    assert len([d for d in drafts if d.lang == "en"]) >= 10
    assert all(len(d.questions) >= 3 for d in drafts)


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (GOOD.replace("team: geral", "team: vendas"), "team"),
        (GOOD.replace("lang: pt-BR", "lang: fr"), "lang"),
        (GOOD.replace("id: horario-loja", "id: Horário Loja"), "id"),
        (GOOD.replace("title: Qual o horário das lojas?\n", ""), "title"),
        (GOOD.replace("As lojas abrem das 10h às 22h.\n", ""), "body"),
        (GOOD.replace("questions:\n  - que horas a loja abre?", "questions: 3"), "questions"),
        (GOOD.replace("tags: [lojas]", "tags: [lojas"), "front matter"),
    ],
)
def test_a_malformed_article_names_the_file_and_the_field_and_the_others_still_load(
    tmp_path: Path, broken: str, field: str
) -> None:
    write(tmp_path, "bom.md", GOOD)
    bad = write(tmp_path, "ruim.md", broken)
    drafts, errors = load_kb_dir(tmp_path, teams=DEFAULT_TEAMS)
    assert [d.id for d in drafts] == ["horario-loja"]
    assert len(errors) == 1
    assert errors[0].path == bad and errors[0].field == field
    assert str(bad) in str(errors[0]) and f"'{field}'" in str(errors[0])


def test_a_repeated_id_in_the_same_language_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.md", GOOD)
    write(tmp_path, "b.md", GOOD)
    drafts, errors = load_kb_dir(tmp_path, teams=DEFAULT_TEAMS)
    assert len(drafts) == 1 and errors[0].field == "id" and "already used" in str(errors[0])


def test_export_reads_back_the_same_article(tmp_path: Path) -> None:
    original = parse_article_file(write(tmp_path, "a.md", GOOD), teams=DEFAULT_TEAMS)
    again = parse_article_file(write(tmp_path, "b.md", render_article_file(original)), teams=DEFAULT_TEAMS)
    assert again == original


def test_a_huge_article_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArticleFileError, match="body"):
        parse_article_file(write(tmp_path, "a.md", GOOD + "x" * 25_000), teams=DEFAULT_TEAMS)
