"""Dashboard query time over a year of history: 1M conversations on SQLite and on PostgreSQL.

The history is generated (seeded, so every run builds the same one) and bulk-loaded, in time
order as a desk appends it, into a freshly migrated database: conversations spread over 365 days with office-hour peaks, a third of
them escalated (picked up, abandoned or still waiting), ownership events, the bot's knowledge-base
markers and agents' first replies, and a survey at most endings. Then the per-conversation
summaries are backfilled from those rows (``rebuild_summaries``, as migration 0702 does; timed),
and each request the dashboard makes is timed ``--repeat`` times after one warm-up, through the
same code the hub runs: the page (``compute_report`` — every KPI, chart and table — plus the live
counters, the pickers and the open follow-ups) for the last 7 days with each kind of filter, 30
days and 30 days of one team; the live counters it polls; the raw survey export.

The headline ``p50_ms``/``p95_ms`` per database are of the default page, ``week``;
``slowest_page_p95_ms`` is the worst page; every page's numbers are under ``pages``.

Run ``.venv/bin/python bench/insights.py`` (``--conversations 50000`` for a quick look); it writes
``bench/results/insights.json``. The PostgreSQL database (127.0.0.1:5432, user postgres) is
created for the run and dropped at the end, also on errors; ``--keep-database NAME`` keeps it (and
reuses it on the next run: migrated, summaries rebuilt unless ``--no-rebuild``, then measured).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from handoff.models import Team, User
from hub.db import make_engine, make_sessionmaker, run_migrations, unit_of_work
from insights import Filters, Period, Targets, compute_report, list_follow_ups, list_surveys, live_counters
from insights.export import surveys_table, to_csv
from insights.summaries import rebuild_summaries

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ = "America/Sao_Paulo"
LAST_DAY = date(2026, 11, 24)
TEAMS = ("geral", "financeiro", "logistica", "tecnico")
TEAM_TARGETS = [
    ("geral", "Geral", 60),
    ("financeiro", "Financeiro", 120),
    ("logistica", "Logística", 90),
    ("tecnico", "Técnico", 45),
]
CHANNELS = ("widget", "widget", "whatsapp", "telegram")
LANGUAGES = ("pt-BR", "pt-BR", "pt-BR", "pt-PT", "en")
AGENTS = 40
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 16, 14, 16, 18, 18, 16, 14, 12, 10, 8, 6, 4, 2]
CHUNK = 50_000
REASONS = ["demorou muito", "não resolveu meu problema", "entrega atrasada", "atendente grosseiro", "cobrança errada"]


def history(n: int, seed: int = 7) -> Iterator[tuple[list, list, list, list]]:
    """Rows (conversations, events, messages, surveys) in chunks; times are aware UTC datetimes."""
    rng = random.Random(seed)
    start = datetime.combine(LAST_DAY - timedelta(days=364), datetime.min.time(), UTC)
    # Rows are appended in time order, as a desk appends them (so a period's rows sit together on disk).
    starts = sorted(
        start + timedelta(days=rng.randrange(365), hours=rng.choices(range(24), HOUR_WEIGHTS)[0] + 3, seconds=rng.randrange(3600))
        for _ in range(n)
    )
    conversations, events, messages, surveys = [], [], [], []
    for i, t0 in enumerate(starts):
        cid = uuid.UUID(int=rng.getrandbits(128)).hex
        channel, lang = rng.choice(CHANNELS), rng.choice(LANGUAGES)
        customer = f"cust-{rng.randrange(n // 3 + 1)}"
        conversations.append((cid, channel, customer, lang, "ended", 0, 0, t0))
        messages.append(
            (
                cid,
                "bot",
                "…",
                json.dumps({"kb": rng.choice(("answer", "answer", "answer", "clarify", "miss"))}),
                channel,
                t0 + timedelta(seconds=2),
            )
        )
        path = rng.random()
        t = t0 + timedelta(seconds=rng.randrange(20, 400))
        team, agent, ending, escalated = None, None, None, path >= 0.66
        if not escalated:
            if path < 0.56:
                events.append((cid, t, "bot", "bot", "closing", None, None, "resolved"))
                ending = rng.choice(("resolved", "goodbye", "inactivity"))
            # else: still with the bot
        else:
            team = rng.choice(TEAMS)
            reason = rng.choices(("customer_request", "kb_unanswered", "complaint", "not_resolved"), (5, 3, 1, 2))[0]
            events.append((cid, t, "bot", "bot", "queued", team, None, reason))
            fate = rng.random()
            wait = timedelta(seconds=int(rng.expovariate(1 / 90)) + 5)
            if fate < 0.85:
                agent = rng.randrange(1, AGENTS + 1)
                events.append((cid, t + wait, f"agent:{agent}", "queued", "human", team, agent, None))
                messages.append((cid, "agent", "Olá!", None, channel, t + wait + timedelta(seconds=rng.randrange(5, 120))))
                handle = timedelta(seconds=rng.randrange(120, 1800))
                events.append((cid, t + wait + handle, f"agent:{agent}", "human", "closing", team, agent, "resolved"))
                ending = "agent_closed"
            elif fate < 0.95:
                events.append((cid, t + wait, "customer", "queued", "abandoned", team, None, "left"))
        if ending:
            asked = events[-1][1]
            answered = rng.random() < 0.45
            score = rng.choices(range(11), (3, 1, 1, 2, 2, 3, 4, 8, 14, 20, 25))[0] if answered else None
            reason = rng.choice(REASONS) if score is not None and score <= 6 and rng.random() < 0.6 else None
            surveys.append(
                (
                    cid,
                    channel,
                    lang,
                    team,
                    agent,
                    agent is None,
                    ending,
                    asked,
                    score,
                    asked + timedelta(seconds=30) if answered else None,
                    reason,
                )
            )
            events.append((cid, asked + timedelta(seconds=60), "customer", "closing", "ended", team, agent, "survey_done"))
        if (i + 1) % CHUNK == 0 or i + 1 == n:
            yield conversations, events, messages, surveys
            conversations, events, messages, surveys = [], [], [], []


def _sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: Path, n: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany("INSERT INTO teams (id, name, sla_seconds) VALUES (?, ?, ?)", TEAM_TARGETS)
    db.executemany(
        "INSERT INTO users (id, email, name, password_hash, role, active, created_at) VALUES (?, ?, ?, '-', 'agent', 1, ?)",
        [(a, f"agent{a}@bench.test", f"Agent {a}", _sqlite_time(datetime.now(UTC))) for a in range(1, AGENTS + 1)],
    )
    for conversations, events, messages, surveys in history(n):
        db.executemany(
            "INSERT INTO conversations (id, channel, customer_id, language, state, priority, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*c[:7], _sqlite_time(c[7])) for c in conversations],
        )
        db.executemany(
            "INSERT INTO ownership_events (conversation_id, at, actor, from_state, to_state, team_id, agent_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(e[0], _sqlite_time(e[1]), *e[2:]) for e in events],
        )
        db.executemany(
            "INSERT INTO messages (conversation_id, sender, text, data, channel, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(*m[:5], _sqlite_time(m[5])) for m in messages],
        )
        db.executemany(
            "INSERT INTO surveys (conversation_id, channel, language, team_id, agent_id, bot_only, ending, asked_at, score, answered_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*s[:7], _sqlite_time(s[7]), s[8], _sqlite_time(s[9]), s[10]) for s in surveys],
        )
        db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()


async def load_postgres(dsn: str, n: int) -> None:
    import asyncpg

    db = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        await db.executemany("INSERT INTO teams (id, name, sla_seconds) VALUES ($1, $2, $3)", TEAM_TARGETS)
        await db.copy_records_to_table(
            "users",
            columns=["id", "email", "name", "password_hash", "role", "active", "created_at"],
            records=[(a, f"agent{a}@bench.test", f"Agent {a}", "-", "agent", True, now) for a in range(1, AGENTS + 1)],
        )
        for conversations, events, messages, surveys in history(n):
            await db.copy_records_to_table(
                "conversations",
                columns=["id", "channel", "customer_id", "language", "state", "priority", "version", "created_at"],
                records=conversations,
            )
            await db.copy_records_to_table(
                "ownership_events",
                columns=["conversation_id", "at", "actor", "from_state", "to_state", "team_id", "agent_id", "reason"],
                records=events,
            )
            await db.copy_records_to_table(
                "messages", columns=["conversation_id", "sender", "text", "data", "channel", "created_at"], records=messages
            )
            await db.copy_records_to_table(
                "surveys",
                columns=[
                    "conversation_id",
                    "channel",
                    "language",
                    "team_id",
                    "agent_id",
                    "bot_only",
                    "ending",
                    "asked_at",
                    "score",
                    "answered_at",
                    "reason",
                ],
                records=surveys,
            )
        await db.execute("VACUUM ANALYZE")
    finally:
        await db.close()


# Every request the dashboard makes: the page itself (GET /dashboard: the report, the live counters,
# the team and agent pickers and the open follow-ups) with the filters a supervisor picks, the live
# counters it polls, and the raw survey export.
PAGES = {
    "week": ("dashboard", 7, Filters()),
    "week_channel": ("dashboard", 7, Filters(channel="whatsapp")),
    "week_agent": ("dashboard", 7, Filters(agent_id=7)),
    "week_language": ("dashboard", 7, Filters(language="pt-PT")),
    "week_bot_only": ("dashboard", 7, Filters(handled_by="bot")),
    "month": ("dashboard", 30, Filters()),
    "month_team": ("dashboard", 30, Filters(team_id="financeiro")),
    "live": ("live", None, None),
    "surveys_csv_week": ("surveys", 7, None),
}


async def _page(session: AsyncSession, kind: str, days: int | None, filters: Filters | None) -> int | None:
    """One request's queries, as the hub's routes run them; the conversations it covers."""
    if kind == "live":
        await live_counters(session)
        return None
    period = Period.of_days(LAST_DAY - timedelta(days=days - 1), LAST_DAY, TZ)
    if kind == "surveys":
        rows = await list_surveys(session, start=period.start, end=period.end)
        to_csv(surveys_table(rows))
        return len(rows)
    report = await compute_report(session, period, filters, targets=Targets())
    await live_counters(session)
    (await session.execute(select(Team).order_by(Team.name))).scalars().all()
    (await session.execute(select(User).where(User.role == "agent").order_by(User.name))).scalars().all()
    await list_follow_ups(session, None)
    return report.totals.conversations


async def measure(url: str, repeat: int) -> dict:
    gc.freeze()  # as the hub does once started (hub.app): what is loaded by now is never collected
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    pages = {}
    try:
        for name, (kind, days, filters) in PAGES.items():
            timings = []
            for i in range(repeat + 1):
                started = time.perf_counter()
                async with sessions() as session:
                    covered = await _page(session, kind, days, filters)
                elapsed = (time.perf_counter() - started) * 1000
                if i:  # the first run warms the caches
                    timings.append(elapsed)
            timings.sort()
            pages[name] = {
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))], 1),
            }
            if covered is not None:
                pages[name]["rows"] = covered
            print(f"  {name}: {pages[name]}", flush=True)
    finally:
        await engine.dispose()
        plans = await _plans(engine) if url.startswith("postgresql") else None
    worst = max(pages.values(), key=lambda p: p["p95_ms"])
    return {
        "p50_ms": pages["week"]["p50_ms"],
        "p95_ms": pages["week"]["p95_ms"],
        "slowest_page_p95_ms": worst["p95_ms"],
        "pages": pages,
        **({"explain": plans} if plans else {}),
    }


async def _plans(engine: AsyncEngine) -> dict[str, list[str]]:
    """PostgreSQL's plan for the summaries of the last 30 days, all and of one team: the period's
    rows are read through the (team, started_at) / started_at indexes, not a scan of the table."""
    period = Period.of_days(LAST_DAY - timedelta(days=29), LAST_DAY, TZ)
    plans = {}
    async with engine.connect() as conn:
        for name, extra in (("month", ""), ("month_team", " AND team_id = 'financeiro'")):
            sql = (
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT channel, team_id, agent_id, ending, count(*), sum(escalated), sum(wait_s) "
                "FROM conversation_summaries WHERE started_at >= $1 AND started_at < $2"
                + extra
                + " GROUP BY channel, team_id, agent_id, ending"
            )
            rows = await conn.exec_driver_sql(sql, (period.start, period.end))
            plans[name] = [r[0] for r in rows]
    return plans


async def build_summaries(url: str) -> float:
    """The backfill a deployment runs once (migration 0702 / ``balcao insights rebuild``): seconds."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await rebuild_summaries(session)
        if url.startswith("postgresql"):
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE conversation_summaries")
        else:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return round(time.perf_counter() - started, 1)


async def bench_postgres(n: int, repeat: int, keep: str | None = None, rebuild: bool = True) -> dict:
    """Load, backfill and measure a fresh PostgreSQL database (dropped at the end), or, with
    ``keep``, the database of that name: created and loaded only if missing and kept afterwards,
    so a change to the queries or indexes is measured again in minutes instead of reloading."""
    import asyncpg

    name = keep or f"balcao_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        await asyncio.to_thread(run_migrations, url)
        if not exists:
            started = time.perf_counter()
            await load_postgres(f"postgresql://postgres@127.0.0.1:5432/{name}", n)
            print(f"postgresql: loaded {n} conversations in {time.perf_counter() - started:.0f} s", flush=True)
        summaries_s = await build_summaries(url) if rebuild or not exists else None
        print(f"postgresql: summaries built in {summaries_s} s", flush=True)
        return {**await measure(url, repeat), "summaries_backfill_s": summaries_s}
    finally:
        if keep is None:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def bench_sqlite(n: int, repeat: int, folder: Path) -> dict:
    path = folder / "insights-bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(run_migrations, url)
    started = time.perf_counter()
    await asyncio.to_thread(load_sqlite, path, n)
    print(f"sqlite: loaded {n} conversations in {time.perf_counter() - started:.0f} s", flush=True)
    summaries_s = await build_summaries(url)
    print(f"sqlite: summaries built in {summaries_s} s", flush=True)
    return {**await measure(url, repeat), "summaries_backfill_s": summaries_s}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--only", choices=["sqlite", "postgresql"], help="measure one database; its part of the results file is replaced"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "insights.json")
    parser.add_argument(
        "--keep-database",
        metavar="NAME",
        help="PostgreSQL: use (and keep) this database, loading it only if it does not exist yet",
    )
    parser.add_argument("--no-rebuild", action="store_true", help="with --keep-database: keep its summaries as they are")
    args = parser.parse_args()
    previous = json.loads(args.out.read_text()) if args.only and args.out.exists() else {}
    sqlite_result, postgres_result = previous.get("sqlite"), previous.get("postgresql")
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory(prefix="balcao-insights-bench-") as tmp:
            sqlite_result = await bench_sqlite(args.conversations, args.repeat, Path(tmp))
    if args.only != "sqlite":
        postgres_result = await bench_postgres(args.conversations, args.repeat, args.keep_database, not args.no_rebuild)
    result = {
        "conversations": args.conversations,
        "period_days": {"week": 7, "month": 30},
        "target_ms": {"postgresql_p95_every_page": 300},
        "sqlite": sqlite_result,
        "postgresql": postgres_result,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
