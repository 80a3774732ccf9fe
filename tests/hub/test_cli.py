"""The `balcao` command line, as `make run` uses it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hub.cli import import_kb, main, set_telegram_webhook
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


def test_set_webhook_registers_the_public_url_with_the_secret_token(tmp_path: Path, index_cache: Path, fake_telegram) -> None:
    from tests.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN

    settings = hub_settings(tmp_path, cache_dir=index_cache, telegram_bot_token=TELEGRAM_TOKEN,
                            telegram_webhook_secret=TELEGRAM_SECRET, telegram_api_url=f"{fake_telegram.url}/bot")
    settings.public_url = "https://desk.loja.example"
    assert asyncio.run(set_telegram_webhook(settings)) == "https://desk.loja.example/webhooks/telegram"
    registered = fake_telegram.calls_of("setWebhook")[-1]
    assert (registered["url"], registered["secret_token"]) == ("https://desk.loja.example/webhooks/telegram", TELEGRAM_SECRET)
    assert registered["allowed_updates"] == '["message", "callback_query"]'


def test_kb_eval_measures_a_faq_file_without_database_or_server(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).parents[1] / "kb_index" / "data"
    args = ["kb", "eval", "--kb", str(data / "faq.jsonl"), "--val", str(data / "val.jsonl"), "--test", str(data / "test.jsonl")]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test"]["in_scope"] == 6 and report["test"]["out_of_scope"] == 3
    assert {"t_answer", "t_clarify"} <= set(report["thresholds"])
    assert main(args) == 0
    assert "in-scope accuracy" in capsys.readouterr().out


def test_kb_eval_says_which_file_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["kb", "eval", "--kb", str(missing), "--val", str(missing), "--test", str(missing), "--encoder", "bm25"]) == 1
    assert "nope.jsonl" in capsys.readouterr().err
