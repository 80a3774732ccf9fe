"""``balcao``: the command line of the desk (database, knowledge base, users, running it all).

Each subcommand is one small function ``_cmd_*(args, settings) -> exit code`` chosen by argparse
(``set_defaults(func=...)``); the work itself is in ``hub.operations``. Exit codes: 0 done, 1 failed
or refused (the reason on stderr, prefixed ``error:``), 2 wrong arguments (argparse), 130 Ctrl-C
before the desk was up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.languages import DEFAULT_LANGUAGE, LANGUAGES
from hub.operations import (
    CommandError,
    add_article,
    add_user,
    calibrate,
    delete_telegram_webhook,
    eval_kb,
    export_kb,
    import_kb,
    prepare,
    rebuild_summaries,
    report,
    reset_password,
    search,
    seed_desk,
    set_telegram_webhook,
    tune,
    upgrade_database,
)
from hub.settings import Settings, get_settings

# Re-exported: tests and scripts build their data through the same functions as the commands.
__all__ = ["add_user", "build_parser", "import_kb", "main", "seed_desk", "set_telegram_webhook"]

ROLES = ["agent", "editor", "supervisor", "admin"]

Handler = Callable[[argparse.Namespace, Settings], int]


# --- run, serve, prepare, db -------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from hub.rasa_model import RasaNotInstalled, TrainingFailed
    from hub.runner import run_all

    prepare(settings)
    try:
        return run_all(settings)
    except (RasaNotInstalled, TrainingFailed, TimeoutError) as exc:
        raise CommandError(str(exc)) from exc


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, proxy_headers=False
    )  # BALCAO_TRUSTED_PROXIES decides
    return 0


def _cmd_prepare(args: argparse.Namespace, settings: Settings) -> int:
    prepare(settings)
    return 0


def _cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings)
    print("database is up to date")
    return 0


# --- kb ----------------------------------------------------------------------------------------


def _cmd_kb_import(args: argparse.Namespace, settings: Settings) -> int:
    errors = asyncio.run(import_kb(settings, args.dir or settings.kb_dir, author="cli"))
    return 1 if errors else 0


def _cmd_kb_export(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(export_kb(settings, args.dir or settings.kb_dir))
    return 0


def _article_values(args: argparse.Namespace) -> dict[str, Any]:
    """``kb add``'s fields: from --file (front matter + body), with the flags given overriding them."""
    from kb_index.markdown import ArticleFileError, read_article_values

    values: dict[str, Any] = {}
    if args.file:
        try:
            values = {**read_article_values(args.file), "_where": str(args.file)}  # checked when added
        except (ArticleFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc
    for key in ("id", "lang", "title", "team"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.body_file is not None:
        try:
            values["body"] = args.body_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read --body-file: {exc}") from exc
    elif args.body is not None:
        values["body"] = args.body
    if args.question:
        values["questions"] = args.question
    if args.tag:
        values["tags"] = args.tag
    values.setdefault("team", "geral")
    return values


def _cmd_kb_add(args: argparse.Namespace, settings: Settings) -> int:
    added = asyncio.run(add_article(settings, _article_values(args), publish=not args.draft))
    print(f"added {added}" + (" as a draft" if args.draft else ", published"))
    return 0


def _cmd_kb_search(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(search(settings, args.question, args.lang)), ensure_ascii=False, indent=2))
    return 0


def _cmd_kb_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(calibrate(settings)), indent=2))
    return 0


def _cmd_kb_tune(args: argparse.Namespace, settings: Settings) -> int:
    result = asyncio.run(tune(settings, base=args.base, epochs=args.epochs, batch_size=args.batch_size, min_gain=args.min_gain))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if result["kept"]:
        print(f"kept: set BALCAO_ENCODER={result['candidate']} to use it (its thresholds are calibrated)", file=sys.stderr)
    else:
        print("rejected: the tuned model did not answer the validation questions better; nothing changed", file=sys.stderr)
    return 0  # a rejected candidate is an answer, not a failure


def format_eval(result: dict[str, Any]) -> str:
    """The ``balcao kb eval`` report as a few readable lines."""
    names = (
        ("in_scope_accuracy", "in-scope accuracy (answered or clarified, right article)"),
        ("oos_recall", "out-of-scope escalated"),
        ("confidently_wrong", "confidently wrong (answered, wrong article)"),
        ("top1_accuracy", "top-1 accuracy (whatever the decision)"),
        ("top3_recall", "top-3 recall"),
        ("answered", "answered outright"),
    )
    test, val = result["test"], result["validation"]
    lines = [f"encoder {result['encoder']}: {test['in_scope']} in-scope and {test['out_of_scope']} out-of-scope test questions"]
    lines += [f"  {label:<58}{100 * test[key]:6.1f}%   (validation {100 * val.get(key, 0):.1f}%)" for key, label in names]
    th = result["thresholds"]
    lines.append("thresholds fitted on the validation questions: " + ", ".join(f"{k}={v}" for k, v in th.items()))
    return "\n".join(lines)


def _cmd_kb_eval(args: argparse.Namespace, settings: Settings) -> int:
    from kb_index import EncoderNotAvailable

    try:
        result = eval_kb(args.kb, args.val, args.test, args.encoder or settings.encoder)
    except (OSError, ValueError, EncoderNotAvailable) as exc:
        raise CommandError(str(exc)) from exc
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_eval(result))
    return 0


# --- user, telegram, report, insights, rasa ----------------------------------------------------


def _cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        password = asyncio.run(
            add_user(settings, email=args.email, name=args.name, role=args.role, teams=args.team, password=args.password)
        )
    except ValueError as exc:  # a short password, an e-mail already used, an unknown team
        raise CommandError(str(exc)) from exc
    print(f"created {args.email} ({args.role}); password: {password}" if not args.password else f"created {args.email}")
    return 0


def _cmd_user_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    password = asyncio.run(reset_password(settings, args.email))
    print(f"{args.email}: every session ended; one-time password (to change at the next login): {password}")
    return 0


def _cmd_telegram_set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    print(f"Telegram will send updates to {asyncio.run(set_telegram_webhook(settings, args.url))}")
    return 0


def _cmd_telegram_delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(delete_telegram_webhook(settings))
    print("Telegram webhook removed")
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    filters = {
        k: getattr(args, k) for k in ("channel", "team_id", "agent_id", "language", "handled_by") if getattr(args, k) is not None
    }
    print(
        asyncio.run(report(settings, start=args.start, end=args.end, fmt=args.format, table=args.table, filters=filters)), end=""
    )
    return 0


def _cmd_insights_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    print(f"rebuilt the summaries of {asyncio.run(rebuild_summaries(settings))} conversations")
    return 0


def _cmd_rasa_train(args: argparse.Namespace, settings: Settings) -> int:
    from hub.rasa_model import RasaNotInstalled, TrainingFailed, ensure_model

    try:
        print(ensure_model())
    except (RasaNotInstalled, TrainingFailed) as exc:
        raise CommandError(str(exc)) from exc
    return 0


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
    _command(
        sub,
        "run",
        _cmd_run,
        "prepare everything and start Rasa and the hub (what `make run` does); Ctrl-C stops both",
        description="Migrate the database, import the starter articles, calibrate if needed, train the Rasa model "
        "if its data changed, then serve the hub and the Rasa server until Ctrl-C.",
    )
    _command(sub, "serve", _cmd_serve, "start only the hub (Rasa must run elsewhere, at BALCAO_RASA_URL)")
    _command(sub, "prepare", _cmd_prepare, "migrate the database, import the starter articles, calibrate if needed")

    db = _group(sub, "db", "the database schema")
    _command(db, "upgrade", _cmd_db_upgrade, "apply the migrations (creates the SQLite file and its folder if missing)")

    kb = _group(sub, "kb", "the knowledge base: articles, search, thresholds")
    kb_import = _command(
        kb, "import", _cmd_kb_import, "publish the articles of a folder of Markdown files (exit 1 if a file was skipped)"
    )
    kb_import.add_argument("--dir", type=Path, default=None, help="the folder (default: BALCAO_KB_DIR, data/kb)")
    kb_export = _command(
        kb, "export", _cmd_kb_export, "write every article as <dir>/<lang>/<id>.md (import reads them back unchanged)"
    )
    kb_export.add_argument("--dir", type=Path, default=None, help="the folder (default: BALCAO_KB_DIR, data/kb)")
    kb_add = _command(kb, "add", _cmd_kb_add, "add one article, from flags or a Markdown file (published unless --draft)")
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
    kb_search = _command(
        kb, "search", _cmd_kb_search, "what the bot would answer: its decision, confidence and best articles (JSON)"
    )
    kb_search.add_argument("question", type=_question, help="the customer's question")
    kb_search.add_argument(
        "--lang", default=DEFAULT_LANGUAGE, choices=LANGUAGES, help=f"the language to search in (default: {DEFAULT_LANGUAGE})"
    )
    _command(kb, "calibrate", _cmd_kb_calibrate, "fit the answer/clarify/escalate thresholds on data/eval/*.val.jsonl")
    kb_tune = _command(
        kb, "tune", _cmd_kb_tune, "fine-tune the encoder on the articles' questions and confirmed answers (kept only if better)"
    )
    kb_tune.add_argument("--base", default=None, help="sentence-transformers model path (default: MiniLM's local model)")
    kb_tune.add_argument("--epochs", type=int, default=1, help="training passes over the questions (default: 1)")
    kb_tune.add_argument("--batch-size", type=int, default=16, help="questions per training step (default: 16)")
    kb_tune.add_argument(
        "--min-gain", type=float, default=0.005, help="in-scope accuracy the new model must add to be kept (default: 0.005)"
    )
    kb_eval = _command(kb, "eval", _cmd_kb_eval, "measure the search on your own FAQ and labelled questions (no database)")
    kb_eval.add_argument(
        "--kb", type=Path, required=True, help='FAQ JSON lines: {"id", "lang", "title", "questions": [...], "body"}'
    )
    kb_eval.add_argument("--val", type=Path, required=True, help='validation JSON lines: {"text", "lang", "article": id or null}')
    kb_eval.add_argument("--test", type=Path, required=True, help="test JSON lines, same shape as --val")
    kb_eval.add_argument("--encoder", default=None, help="encoder spec (default: BALCAO_ENCODER)")
    kb_eval.add_argument("--json", action="store_true", help="print the report as JSON")

    user = _group(sub, "user", "staff users (agents, editors, supervisors, admins)")
    user_add = _command(user, "add", _cmd_user_add, "create a staff user")
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
        _cmd_user_reset_password,
        "give a user a new one-time password (printed) and end their sessions",
    )
    user_reset.add_argument("email", help="the e-mail they log in with")

    telegram = _group(sub, "telegram", "the Telegram channel (needs BALCAO_TELEGRAM_BOT_TOKEN)")
    set_webhook = _command(
        telegram,
        "set-webhook",
        _cmd_telegram_set_webhook,
        "register BALCAO_PUBLIC_URL/webhooks/telegram with the secret token (BALCAO_TELEGRAM_WEBHOOK_SECRET)",
    )
    set_webhook.add_argument("--url", default=None, help="another public URL of the webhook")
    _command(telegram, "delete-webhook", _cmd_telegram_delete_webhook, "unregister it (for BALCAO_TELEGRAM_MODE=polling)")

    from insights.export import TABLES

    rep = _command(
        sub, "report", _cmd_report, "NPS and service KPIs of a period (local days in BALCAO_REPORT_TIMEZONE, both included)"
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
        _cmd_insights_rebuild,
        "recompute every conversation's summary from its events (after a restore or an import)",
    )

    rasa = _group(sub, "rasa", "the Rasa model")
    _command(rasa, "train", _cmd_rasa_train, "train the model if the training data changed; print its path")
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
