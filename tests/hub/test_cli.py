"""The `balcao` command line, as `make run` uses it."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.db import run_migrations
from hub.operations import import_kb, set_telegram_webhook
from tests.kb_index.test_markdown import GOOD
from tests.support import hub_settings


def test_import_names_a_malformed_file_and_its_field_and_loads_the_rest(
    tmp_path: Path, index_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "bom.md").write_text(GOOD, encoding="utf-8")
    (kb / "ruim.md").write_text(
        GOOD.replace("id: horario-loja", "id: outro").replace("team: geral", "team: vendas"), encoding="utf-8"
    )
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

    settings = hub_settings(
        tmp_path,
        cache_dir=index_cache,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET,
        telegram_api_url=f"{fake_telegram.url}/bot",
    )
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
    assert "in-scope right" in capsys.readouterr().out


def test_kb_eval_without_validation_questions_calibrates_from_the_faq_alone(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).parents[1] / "kb_index" / "data"
    assert main(["kb", "eval", "--kb", str(data / "faq.jsonl"), "--test", str(data / "test.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated_on"] == "the knowledge base alone"
    assert report["thresholds"]["t_clarify"] <= report["thresholds"]["t_answer"]
    # Plain questions about six clearly different bakery articles: most are served right.
    assert report["test"]["in_scope_accuracy"] >= 4 / 6


def test_kb_eval_says_which_file_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["kb", "eval", "--kb", str(missing), "--val", str(missing), "--test", str(missing), "--encoder", "bm25"]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_the_set_webhook_command_exits_0_and_says_where(
    tmp_path: Path, index_cache: Path, fake_telegram, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN

    settings = hub_settings(
        tmp_path,
        cache_dir=index_cache,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET,
        telegram_api_url=f"{fake_telegram.url}/bot",
    )
    monkeypatch.setattr("hub.cli.get_settings", lambda: settings)
    assert main(["telegram", "set-webhook", "--url", "https://desk.loja.example/webhooks/telegram"]) == 0
    assert "Telegram will send updates to https://desk.loja.example/webhooks/telegram" in capsys.readouterr().out
    assert main(["telegram", "delete-webhook"]) == 0
    assert "Telegram webhook removed" in capsys.readouterr().out


def test_a_refused_command_exits_1_and_says_what_to_set(
    tmp_path: Path, index_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("hub.cli.get_settings", lambda: hub_settings(tmp_path, cache_dir=index_cache))
    assert main(["telegram", "set-webhook"]) == 1
    assert "error: set BALCAO_TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
    assert main(["report", "--from", "2026-03-31", "--to", "2026-02-30"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_every_subcommand_and_option_is_explained_in_help() -> None:
    from hub.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, child in action.choices.items():
                    assert helps.get(name), f"`{path} {name}` has no help"
                    walk(child, f"{path} {name}")
            else:
                assert action.help, f"`{path}` option {action.option_strings or action.dest} has no help"
        has_subcommands = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        assert has_subcommands or callable(parser.get_default("func")), f"`{path}` runs nothing"

    walk(build_parser(), "balcao")


def test_make_run_creates_one_demo_admin_on_an_empty_desk_only(tmp_path: Path, index_cache: Path) -> None:
    from hub.operations import add_user, ensure_demo_admin

    settings = hub_settings(tmp_path / "nested" / "var", cache_dir=index_cache)  # a folder that does not exist yet
    run_migrations(settings.database_url)
    email, password = asyncio.run(ensure_demo_admin(settings))
    assert email == "admin@balcao.local" and len(password) >= 12
    assert asyncio.run(ensure_demo_admin(settings)) is None
    asyncio.run(add_user(settings, email="ana@loja.test", name="Ana", role="agent", teams=["geral"], password="ana-password-1"))
    assert asyncio.run(ensure_demo_admin(settings)) is None
