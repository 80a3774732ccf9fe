"""``balcao``: the command line of the desk (database, knowledge base, users, running it all).

Each subcommand is one small function ``hub.commands.cmd_*(args, settings) -> exit code`` chosen by
argparse (``set_defaults(func=...)``); the work itself is in ``hub.operations``. Exit codes: 0 done, 1 failed
or refused (the reason on stderr, prefixed ``error:``), 2 wrong arguments (argparse), 130 Ctrl-C
before the desk was up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.languages import DEFAULT_LANGUAGE, LANGUAGES
from hub import commands
from hub.operations import CommandError, add_user, import_kb, search, seed_desk, set_telegram_webhook
from hub.settings import Settings, get_settings

# Re-exported: tests and scripts build their data through the same functions as the commands.
__all__ = ["add_user", "build_parser", "import_kb", "main", "search", "seed_desk", "set_telegram_webhook"]

ROLES = ["agent", "editor", "supervisor", "admin"]

Handler = Callable[[argparse.Namespace, Settings], int]


# --- the parser --------------------------------------------------------------------------------


def _question(text: str) -> str:
    """``kb search``'s question: anything but blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a question")
    return text


def _subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def _command(sub: argparse._SubParsersAction, name: str, func: Handler, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` repeats its one-line help as its description."""
    parser = sub.add_parser(name, help=help_text, description=kwargs.pop("description", help_text), **kwargs)
    parser.set_defaults(func=func)
    return parser


def _group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A subcommand that only holds subcommands (``balcao kb …``)."""
    return _subcommands(sub.add_parser(name, help=help_text, description=help_text), f"{name}_command")


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    """``run``, ``serve``, ``prepare`` and ``db upgrade``: the desk and its database."""
    run = _command(
        sub,
        "run",
        commands.cmd_run,
        "prepare everything and start Rasa and the hub (what `make run` does); Ctrl-C stops both",
        description="Migrate the database, import the starter articles, calibrate if needed, train the Rasa model "
        "if its data changed, then serve the hub and the Rasa server until Ctrl-C. With --replicas or --rasa: "
        "that many hubs and Rasa servers behind HAProxy, on PostgreSQL (BALCAO_DATABASE_URL) and Redis "
        "(BALCAO_REDIS_URL), as `make run-scaled` does.",
    )
    run.add_argument("--replicas", type=int, metavar="N", help="run N hub processes behind HAProxy (the scaled setup)")
    run.add_argument("--rasa", type=int, metavar="M", help="run M Rasa servers behind HAProxy (the scaled setup)")
    _command(sub, "serve", commands.cmd_serve, "start only the hub (Rasa must run elsewhere, at BALCAO_RASA_URL)")
    _command(sub, "prepare", commands.cmd_prepare, "migrate the database, import the starter articles, calibrate if needed")

    db = _group(sub, "db", "the database schema")
    _command(db, "upgrade", commands.cmd_db_upgrade, "apply the migrations (creates the SQLite file and its folder if missing)")


def _add_kb_add(kb: argparse._SubParsersAction) -> None:
    """``kb add``: one article from flags or a file."""
    kb_add = _command(kb, "add", commands.cmd_kb_add, "add one article, from flags or a Markdown file (published unless --draft)")
    kb_add.add_argument("--file", type=Path, help="an article file (front matter + body); flags override its fields")
    kb_add.add_argument("--id", help="the article's id, e.g. prazo-de-entrega (the same id in every language)")
    kb_add.add_argument("--lang", choices=LANGUAGES, help="its language")
    kb_add.add_argument("--title", help="its title, shown in bold above the answer")
    kb_add.add_argument("--team", help="the team a customer is handed to from it: one of the desk's teams (default: geral)")
    kb_add.add_argument("--question", action="append", default=[], help="an alternative question; repeat for more")
    kb_add.add_argument("--tag", action="append", default=[], help="a tag; repeat for more")
    kb_add.add_argument("--body", help="the Markdown body")
    kb_add.add_argument("--body-file", type=Path, help="read the body from this file")
    kb_add.add_argument("--draft", action="store_true", help="store as a draft (not answered with)")


def _add_kb_tuning(kb: argparse._SubParsersAction) -> None:
    """``kb calibrate``, ``kb tune`` and ``kb eval``: the search's thresholds, encoder and measure."""
    kb_calibrate = _command(
        kb,
        "calibrate",
        commands.cmd_kb_calibrate,
        "fit the answer/clarify/escalate thresholds on data/eval/*.val.jsonl, or from the articles alone without them",
    )
    kb_calibrate.add_argument(
        "--from-kb", action="store_true", help="fit from the published articles alone even if labelled questions exist"
    )
    kb_tune = _command(
        kb,
        "tune",
        commands.cmd_kb_tune,
        "fine-tune the encoder on the articles' questions and confirmed answers (kept only if better)",
    )
    kb_tune.add_argument("--base", default=None, help="sentence-transformers model path (default: MiniLM's local model)")
    kb_tune.add_argument("--epochs", type=int, default=1, help="training passes over the questions (default: 1)")
    kb_tune.add_argument("--batch-size", type=int, default=16, help="questions per training step (default: 16)")
    kb_tune.add_argument(
        "--min-gain", type=float, default=0.005, help="in-scope accuracy the new model must add to be kept (default: 0.005)"
    )
    kb_eval = _command(
        kb, "eval", commands.cmd_kb_eval, "measure the search on your own FAQ and labelled questions (no database)"
    )
    kb_eval.add_argument(
        "--kb", type=Path, required=True, help='FAQ JSON lines: {"id", "lang", "title", "questions": [...], "body"}'
    )
    kb_eval.add_argument(
        "--val",
        type=Path,
        default=None,
        help='validation JSON lines: {"text", "lang", "article": id or null} (default: calibrate from the FAQ alone)',
    )
    kb_eval.add_argument(
        "--out-of-scope",
        type=Path,
        default=None,
        help='out-of-scope examples, JSON lines {"text", "lang"} (default: the ones beside BALCAO_CALIBRATION_FILE)',
    )
    kb_eval.add_argument("--test", type=Path, required=True, help="test JSON lines, same shape as --val")
    kb_eval.add_argument("--encoder", default=None, help="encoder spec (default: BALCAO_ENCODER)")
    kb_eval.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_kb_commands(sub: argparse._SubParsersAction) -> None:
    """``kb …``: import, export, add, search, calibrate, tune, eval."""
    kb = _group(sub, "kb", "the knowledge base: articles, search, thresholds")
    kb_import = _command(
        kb, "import", commands.cmd_kb_import, "publish the articles of a folder of Markdown files (exit 1 if a file was skipped)"
    )
    kb_import.add_argument("--dir", type=Path, default=None, help="the folder (default: BALCAO_KB_DIR, data/kb)")
    kb_export = _command(
        kb, "export", commands.cmd_kb_export, "write every article as <dir>/<lang>/<id>.md (import reads them back unchanged)"
    )
    kb_export.add_argument("--dir", type=Path, default=None, help="the folder (default: BALCAO_KB_DIR, data/kb)")
    _add_kb_add(kb)
    kb_search = _command(
        kb, "search", commands.cmd_kb_search, "what the bot would answer: its decision, confidence and best articles (JSON)"
    )
    kb_search.add_argument("question", type=_question, help="the customer's question")
    kb_search.add_argument(
        "--lang", default=DEFAULT_LANGUAGE, choices=LANGUAGES, help=f"the language to search in (default: {DEFAULT_LANGUAGE})"
    )
    _add_kb_tuning(kb)


def _add_user_commands(sub: argparse._SubParsersAction) -> None:
    """``user add`` and ``user reset-password``."""
    user = _group(sub, "user", "staff users (agents, editors, supervisors, admins)")
    user_add = _command(user, "add", commands.cmd_user_add, "create a staff user")
    user_add.add_argument("--email", required=True, help="the e-mail they log in with")
    user_add.add_argument("--name", required=True, help="the name customers and colleagues see")
    user_add.add_argument("--role", default="agent", choices=ROLES, help="what they may do (default: agent)")
    user_add.add_argument("--team", action="append", default=[], help="a team whose queue they serve; repeat for several")
    user_add.add_argument(
        "--password", default=None, help="at least 8 characters; when omitted, a one-time one is generated and printed"
    )
    user_reset = _command(
        user,
        "reset-password",
        commands.cmd_user_reset_password,
        "give a user a new one-time password (printed) and end their sessions",
    )
    user_reset.add_argument("email", help="the e-mail they log in with")


def _add_telegram_commands(sub: argparse._SubParsersAction) -> None:
    """``telegram set-webhook`` and ``telegram delete-webhook``."""
    telegram = _group(sub, "telegram", "the Telegram channel (needs BALCAO_TELEGRAM_BOT_TOKEN)")
    set_webhook = _command(
        telegram,
        "set-webhook",
        commands.cmd_telegram_set_webhook,
        "register BALCAO_PUBLIC_URL/webhooks/telegram with the secret token (BALCAO_TELEGRAM_WEBHOOK_SECRET)",
    )
    set_webhook.add_argument("--url", default=None, help="another public URL of the webhook")
    _command(telegram, "delete-webhook", commands.cmd_telegram_delete_webhook, "unregister it (for BALCAO_TELEGRAM_MODE=polling)")


def _add_widget_commands(sub: argparse._SubParsersAction) -> None:
    """``widget identity-secret``."""
    widget = _group(sub, "widget", "the website widget")
    _command(
        widget,
        "identity-secret",
        commands.cmd_widget_identity_secret,
        "print the secret the shop's server signs its logged-in customer's identity with (docs/identity.md)",
    )


def _add_report_commands(sub: argparse._SubParsersAction) -> None:
    """``report`` (a period's KPIs, with filters) and ``insights rebuild``."""
    from insights.export import TABLES

    rep = _command(
        sub,
        "report",
        commands.cmd_report,
        "NPS and service KPIs of a period (local days in BALCAO_REPORT_TIMEZONE, both included)",
    )
    rep.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    rep.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (included)")
    rep.add_argument(
        "--format", choices=["json", "csv"], default="json", help="the whole report as JSON, or one table as CSV (default: json)"
    )
    rep.add_argument("--table", choices=TABLES, default="summary", help="with --format csv: which table (default: summary)")
    rep.add_argument("--channel", help="only this channel (widget, telegram, whatsapp)")
    rep.add_argument("--team", dest="team_id", help="only this team's conversations")
    rep.add_argument("--agent", dest="agent_id", type=int, help="only this agent's conversations (user id)")
    rep.add_argument("--language", help="only conversations in this language (pt-BR, pt-PT, en)")
    rep.add_argument(
        "--handled-by",
        dest="handled_by",
        choices=["bot", "person"],
        help="only those the bot handled alone (bot) or that were handed to a person (person)",
    )

    ins = _group(sub, "insights", "the KPI summaries")
    _command(
        ins,
        "rebuild",
        commands.cmd_insights_rebuild,
        "recompute every conversation's summary from its events (after a restore or an import)",
    )


def _add_privacy_commands(sub: argparse._SubParsersAction) -> None:
    """``privacy export``, ``erase``, ``retention`` and ``run-retention`` (LGPD / GDPR)."""
    privacy = _group(sub, "privacy", "a customer's data: export, erasure, the retention policy")
    who = "a conversation id, phone number (+5511987654321), Telegram id (tg-123 or @username) or customer id"
    export = _command(privacy, "export", commands.cmd_privacy_export, "write everything stored about a customer to a zip")
    export.add_argument("customer", help=who)
    export.add_argument("--out", type=Path, required=True, help="the zip file to write")
    erase = _command(
        privacy, "erase", commands.cmd_privacy_erase, "anonymise a customer's conversations and remove their records and files"
    )
    erase.add_argument("customer", help=who)
    erase.add_argument("--yes", action="store_true", help="confirm: erasing cannot be undone")
    retention = _command(privacy, "retention", commands.cmd_privacy_retention, "show or set the retention policy")
    keep = retention.add_mutually_exclusive_group()
    keep.add_argument("--days", type=int, help="anonymise conversations older than this many days")
    keep.add_argument("--keep-all", action="store_true", help="turn the policy off: keep every conversation")
    _command(privacy, "run-retention", commands.cmd_privacy_run_retention, "apply the retention policy now")


def build_parser() -> argparse.ArgumentParser:
    """The ``balcao`` parser: every subcommand, with what each option does."""
    parser = argparse.ArgumentParser(
        prog="balcao",
        description="Balcão customer service desk: a Rasa assistant answering from a knowledge base, human handoff and NPS.",
        epilog="Settings come from BALCAO_* environment variables or a .env file (see hub/settings.py), e.g. "
        "BALCAO_DATABASE_URL (default: SQLite in var/balcao.db), BALCAO_PORT (8000), BALCAO_RASA_URL "
        "(http://127.0.0.1:5005), BALCAO_ENCODER. Exit codes: 0 done, 1 failed (reason on stderr), 2 bad arguments.",
    )
    sub = _subcommands(parser, "command")
    _add_run_commands(sub)
    _add_kb_commands(sub)
    _add_user_commands(sub)
    _add_telegram_commands(sub)
    _add_widget_commands(sub)
    _add_report_commands(sub)
    _add_privacy_commands(sub)
    rasa = _group(sub, "rasa", "the Rasa model")
    _command(rasa, "train", commands.cmd_rasa_train, "train the model if the training data changed; print its path")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``balcao`` command: parse, run the subcommand, return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError: a BALCAO_* variable is malformed or refused
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 1
    try:
        return args.func(args, settings)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
