"""Load benchmark: how many concurrent conversations one machine holds, embedded and scaled.

Customers on the widget (WebSocket), Telegram and WhatsApp (``tests/channel_fakes.py``'s fake
platform APIs) each write about every ``--think`` seconds (30 by default, ±33 %) and follow a mix of
scripts: FAQ questions (40 %), a FAQ question and goodbye with the NPS survey (25 %), a vague
question the knowledge base clarifies (20 %), a request for a person (15 %; 20 agents take chats
from the queue at the console's API, answer and close them, and the bot asks the survey). The
number of concurrent conversations goes up in steps; a step is *held* when its bot turns have p95
≤ 1 s, no errors and nothing lost (every reply arrived; at the end, every customer message is in
the database once and every agent reply reached its customer).

Setups: ``embedded`` is ``balcao run`` (one hub process on SQLite + one Rasa server);
``scaled`` is ``balcao run --replicas 2 --rasa R`` (hub/scaled.py: HAProxy, two hubs on PostgreSQL
and Redis, R Rasa servers). CPU milliseconds per bot turn are read per process from
``/proc/PID/stat`` (utime + stime) over each step, so capacity per core can be projected.

    .venv/bin/python bench/load.py [--setups embedded,scaled] [--step-seconds 600] [--steps 50,100,...]

Everything runs on 127.0.0.1, each setup in its own process group, and is stopped at the end
(also on errors and on SIGTERM). Results: ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package

import httpx
import numpy as np
from load_clients import (
    TELEGRAM_TOKEN,
    TWILIO_FROM,
    TWILIO_SID,
    Agent,
    Inboxes,
    LoadTelegram,
    LoadTwilio,
    Platforms,
    Stats,
    customer_loop,
)

import handoff
from handoff import Role
from hub.db import make_engine, make_sessionmaker, unit_of_work

RESULTS = ROOT / "bench" / "results" / "load.json"
INDEX_CACHE = ROOT / "bench" / ".cache" / "load-index"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PUBLIC_PORT, RASA_PORT = 8480, 5480
AGENTS, AGENT_PASSWORD = 20, "load-bench-password-1"
P95_LIMIT_S = 1.0
GIVE_UP_P95_MS = 4000.0
START_TIMEOUT_S = 900
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes -----------------------------------------------------------------------------


def cpu_ms(pid: int) -> float:
    """utime + stime of a process (all its threads), in milliseconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK


def machine_busy_ms() -> float:
    """CPU milliseconds every core of the machine spent not idle (``/proc/stat``), since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) * 1000 / CLK_TCK


def other_cpu() -> dict[str, float]:
    """CPU milliseconds so far of what else used the machine's cores besides the desk, by process
    (``role:pid``, as the desk's own): this load generator (its customers and the platform fakes),
    PostgreSQL's backends, Redis, and every core's busy time (``machine``)."""
    reading = {"load_generator": time.process_time() * 1000, "machine": machine_busy_ms()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                role = {"postgres": "postgresql", "redis-server": "redis"}.get((entry / "comm").read_text().strip())
            except OSError:
                continue
            if role:
                reading[f"{role}:{entry.name}"] = cpu_ms(int(entry.name))
    return reading


def by_role(cpu: dict[str, float]) -> dict[str, float]:
    """Per-process CPU (``role:pid``) summed by role."""
    per_role: dict[str, float] = {}
    for name, value in cpu.items():
        role = name.split(":")[0]
        per_role[role] = per_role.get(role, 0.0) + value
    return per_role


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (children, their children…)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def role_of(pid: int, runner: int, scaled: bool) -> str:
    """hub / rasa / haproxy / runner, from the command line (the embedded runner *is* the hub)."""
    if pid == runner:
        return "runner" if scaled else "hub"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "haproxy" in cmd:
        return "haproxy"
    if "serve" in cmd and "hub.cli" in cmd:
        return "hub"
    return "rasa" if "rasa" in cmd else "other"


@dataclass
class Setup:
    name: str
    runner: subprocess.Popen
    env: dict[str, str]
    database: str | None  # PostgreSQL database to drop at the end
    scaled: bool
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{PUBLIC_PORT}"

    def processes(self) -> dict[int, str]:
        pids = [self.runner.pid, *descendants(self.runner.pid)]
        return {pid: f"{role_of(pid, self.runner.pid, self.scaled)}:{pid}" for pid in pids}

    def stop(self) -> None:
        """SIGINT to the runner (it stops what it started), then SIGKILL to the whole group."""
        if self.runner.poll() is None:
            self.runner.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.runner.wait(60)
        left = descendants(self.runner.pid) if self.runner.poll() is None else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.runner.pid, signal.SIGKILL)
        for pid in left:  # the scaled runner starts each process in a session of its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.runner.wait(10)
        if self.database:  # also when the setup never started (e.g. a port in use)
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.database}_rasa" WITH (FORCE)'))


def start_setup(name: str, tmp: Path, telegram_url: str, twilio_url: str, secrets_: dict[str, str], rasa_servers: int) -> Setup:
    """``balcao run`` (embedded) or ``balcao run --replicas 2 --rasa N`` (scaled), until it prints
    that it is ready; raises with the end of its output when it does not start."""
    scaled = name != "embedded"
    calibration = tmp / "calibration.json"  # a copy: `balcao prepare` never rewrites the repository's file
    shutil.copy(ROOT / "data" / "kb" / "calibration.json", calibration)
    database = f"balcao_load_{uuid.uuid4().hex[:8]}" if scaled else None
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")},
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "BALCAO_HOST": "127.0.0.1",
        "BALCAO_PORT": str(PUBLIC_PORT),
        "BALCAO_RASA_URL": f"http://127.0.0.1:{RASA_PORT}",
        "BALCAO_SECRETS_FILE": str(tmp / "secrets.json"),
        "BALCAO_INDEX_DIR": str(INDEX_CACHE),  # the embedding cache, kept between runs as a real desk keeps it
        "BALCAO_CALIBRATION_FILE": str(calibration),
        "BALCAO_MEDIA_DIR": str(tmp / "media"),
        "BALCAO_SCALED_DIR": str(tmp / "scaled"),
        "BALCAO_INACTIVITY_SECONDS": "3600",
        # Every simulated customer comes from 127.0.0.1: the per-address limits would count them as one.
        "BALCAO_RATE_IP_PER_MINUTE": "1000000",
        "BALCAO_RATE_IP_BURST": "1000000",
        "BALCAO_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "BALCAO_TELEGRAM_WEBHOOK_SECRET": secrets_["telegram"],
        "BALCAO_TELEGRAM_API_URL": f"{telegram_url}/bot",
        "BALCAO_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "BALCAO_TWILIO_AUTH_TOKEN": secrets_["twilio"],
        "BALCAO_TWILIO_WHATSAPP_FROM": TWILIO_FROM,
        "BALCAO_TWILIO_API_URL": twilio_url,
        "BALCAO_PUBLIC_URL": f"http://127.0.0.1:{PUBLIC_PORT}",
    }
    if scaled:
        asyncio.run(pg_admin(f'CREATE DATABASE "{database}"'))
        env["BALCAO_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        env["BALCAO_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["BALCAO_REDIS_PREFIX"] = database or "load"
        args = ["run", "--replicas", "2", "--rasa", str(rasa_servers)]
    else:
        env["BALCAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'embedded.db'}"
        args = ["run"]
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        runner = subprocess.Popen(
            [sys.executable, "-c", f"import sys; from hub.cli import main; sys.exit(main({args!r}))"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one at the end
        )
    setup = Setup(name, runner, env, database, scaled, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while "Ctrl-C stops everything" not in log.read_text(errors="replace"):
        if runner.poll() is not None or time.monotonic() > deadline:
            setup.stop()
            raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(1)
    return setup


async def pg_admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def warm_up(rasa_servers: int) -> None:
    """A first turn on every Rasa server (HAProxy takes turns): a cold one loads its policies then."""
    for _ in range(rasa_servers + 1):
        httpx.post(
            f"http://127.0.0.1:{RASA_PORT}/webhooks/rest/webhook",
            json={"sender": f"warm-up-{uuid.uuid4().hex}", "message": "oi"},
            timeout=300,
            trust_env=False,
        )


async def seed_agents(database_url: str) -> list[str]:
    """Twenty agents in every team; every team always open (the queue is served all day)."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    emails = []
    async with unit_of_work(sessions) as session:
        teams = [t.id for t in await handoff.list_teams(session)]
        for team in teams:
            await handoff.update_team(session, team, always_open=True)
        for n in range(AGENTS):
            email = f"load-agent{n}@bench.test"
            await handoff.add_user(
                session, email=email, name=f"Agente {n}", password=AGENT_PASSWORD, role=Role.AGENT, teams=teams
            )
            emails.append(email)
    await engine.dispose()
    return emails


async def stored_customer_messages(database_url: str) -> dict[str, int]:
    """Customer messages in the database, per channel."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT c.channel, count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                    "WHERE m.sender = 'customer' GROUP BY c.channel"
                )
            )
            return {str(channel): int(count) for channel, count in rows.all()}
    finally:
        await engine.dispose()


# -- the ramp ------------------------------------------------------------------------------


def step_summary(
    stats: Stats, start: float, end: float, cpu: dict[str, float], other: dict[str, float], concurrency: int
) -> dict:
    # Turns are judged when they end (the customer looked after thinking): those ending in the step.
    turns = [t for t in stats.turns if start <= t[4] < end]
    ms = np.array([t[1] for t in turns]) * 1000
    errors = [e for at, e in stats.errors if start <= at < end]
    per_role = by_role(cpu)
    n = len(turns)
    return {
        "concurrent_conversations": concurrency,
        "measured_s": round(end - start, 1),
        "bot_turns": n,
        "turns_per_s": round(n / (end - start), 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if n else None,
        "p95_ms": round(float(np.percentile(ms, 95)), 1) if n else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if n else None,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "cpu_ms_per_turn": {role: round(v / n, 1) for role, v in sorted(per_role.items())} if n else {},
        "cpu_ms_per_turn_by_process": {k: round(v / n, 1) for k, v in sorted(cpu.items())} if n else {},
        "cpu_cores_busy": round(sum(per_role.values()) / 1000 / (end - start), 2),
        # "machine" counts every process on it (the desk's, these and any other work).
        "other_cores_busy": {k: round(v / 1000 / (end - start), 2) for k, v in by_role(other).items()},
    }


async def ramp(setup: Setup, steps: list[int], step_s: float, think_s: float, secrets_: dict[str, str], inboxes: Inboxes) -> dict:
    """Run the steps; stop at the first one not held. Then drain and count what was stored."""
    emails = await seed_agents(setup.env["BALCAO_DATABASE_URL"])
    stats = Stats()
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    results: list[dict] = []
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as http:
        platforms = Platforms(setup.url, http, inboxes, secrets_["telegram"], TWILIO_SID, secrets_["twilio"], TWILIO_FROM)
        agents_until = [float("inf")]
        agents = [Agent(setup.url, e, AGENT_PASSWORD, stats) for e in emails]
        for agent in agents:
            await agent.login()
        agent_tasks = [asyncio.create_task(a.run(agents_until)) for a in agents]
        customers: list[tuple[asyncio.Task, list[float]]] = []
        rng = random.Random(18)
        ramp_in = think_s  # new customers arrive spread over one think time, then the step is measured
        try:
            for concurrency in steps:
                print(f"{setup.name}: {concurrency} conversations…", file=sys.stderr, flush=True)
                new = concurrency - len(customers)
                for _ in range(new):
                    until = [float("inf")]
                    task = asyncio.create_task(customer_loop(platforms, stats, random.Random(rng.random()), think_s, until))
                    customers.append((task, until))
                    await asyncio.sleep(ramp_in / max(1, new))
                processes = setup.processes()
                before = {name: cpu_ms(pid) for pid, name in processes.items()}
                other_before = other_cpu()
                start = time.monotonic()
                await asyncio.sleep(step_s)
                end = time.monotonic()
                cpu = {name: cpu_ms(pid) - before[name] for pid, name in processes.items()}
                # A process counts when it lived through the step (a PostgreSQL backend that ended
                # meanwhile is missed: that figure is a lower bound).
                other_after = other_cpu()
                other = {k: other_after[k] - other_before[k] for k in other_before.keys() & other_after.keys()}
                summary = step_summary(stats, start, end, cpu, other, concurrency)
                summary["held"] = bool(summary["bot_turns"] and summary["p95_ms"] <= P95_LIMIT_S * 1000 and not summary["errors"])
                results.append(summary)
                print(
                    f"  {json.dumps({k: summary[k] for k in ('p50_ms', 'p95_ms', 'bot_turns', 'errors', 'error_examples', 'cpu_ms_per_turn', 'other_cores_busy', 'held')}, ensure_ascii=False)}",
                    file=sys.stderr,
                    flush=True,
                )
                # Past the first step not held the ramp goes on while it still tells something (CPU per
                # turn, where latency goes); it stops once turns take seconds or fail.
                if (
                    summary["p95_ms"] is None
                    or summary["p95_ms"] > GIVE_UP_P95_MS
                    or summary["errors"] > 0.05 * summary["bot_turns"]
                ):
                    break
        except BaseException:  # stopped (Ctrl-C, SIGTERM) or failed: no draining, the setup is stopped next
            for task in [t for t, _ in customers] + agent_tasks:
                task.cancel()
            raise
        else:
            for _task, until in customers:
                until[0] = 0.0  # each finishes the conversation it is in
            agents_until[0] = time.monotonic() + think_s * 6  # agents still serve the last handoffs
            await asyncio.gather(*(t for t, _ in customers), return_exceptions=True)
            agents_until[0] = 0.0
            await asyncio.gather(*agent_tasks, return_exceptions=True)
    await asyncio.sleep(5)
    stored = await stored_customer_messages(setup.env["BALCAO_DATABASE_URL"])
    held = [s["concurrent_conversations"] for s in results if s["held"]]
    in_a_row = 0
    for s in results:  # the largest step held with every smaller one held too
        if not s["held"]:
            break
        in_a_row = s["concurrent_conversations"]
    return {
        "largest_held": max(held) if held else 0,
        "largest_held_with_every_smaller_step": in_a_row,
        "steps": results,
        "customer_messages_sent": stats.sent,
        "customer_messages_stored": stored,
        "customer_messages_answered_with_an_error": stats.answered_error,
        # A message whose webhook answered an error may or may not be stored: only the others count.
        "customer_messages_lost": {c: max(0, n - stored.get(c, 0)) for c, n in stats.sent.items()},
        "customer_messages_duplicated": {
            c: max(0, stored.get(c, 0) - n - stats.answered_error[c]) for c, n in stats.sent.items()
        },
        "agent_replies_sent": stats.agent_replies_sent,
        "agent_replies_seen_by_customers": stats.agent_replies_seen,
        "handoffs_not_served_in_time": stats.handoffs_unserved,
        "conversations_finished": stats.scripts_done,
        "errors_total": len(stats.errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="embedded,scaled", help="embedded, scaled or both (comma-separated)")
    parser.add_argument("--step-seconds", type=float, default=600.0, help="how long each step is held (the issue: 10 min)")
    parser.add_argument("--think", type=float, default=30.0, help="seconds between a customer's messages (±33 %%)")
    parser.add_argument("--embedded-steps", default="25,50,100,150,200,300")
    parser.add_argument("--scaled-steps", default="50,100,200,300,400,500")
    parser.add_argument("--rasa", type=int, default=1, help="Rasa servers in the scaled setup")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="added to the results' notes (e.g. what else ran on the machine)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` stops every process started (Ctrl-C too)
    inboxes = Inboxes()
    secrets_ = {"telegram": secrets.token_urlsafe(24), "twilio": secrets.token_urlsafe(16)}
    telegram = LoadTelegram(TELEGRAM_TOKEN).start()
    twilio = LoadTwilio(TWILIO_SID, secrets_["twilio"]).start()
    telegram.inboxes = twilio.inboxes = inboxes
    report: dict = {
        "benchmark": "load",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
        "notes": (
            f"127.0.0.1 only; each step held {args.step_seconds:.0f} s after its new customers arrived over one "
            f"think time (the issue asks 600 s); turns judged when the customer looked, so a step counts the turns "
            f"that ended in it; CPU of PostgreSQL and Redis not counted. {args.note}"
        ).strip(),
        "settings": {
            "step_seconds": args.step_seconds,
            "think_s": args.think,
            "agents": AGENTS,
            "p95_limit_ms": P95_LIMIT_S * 1000,
        },
    }
    try:
        for name in args.setups.split(","):
            steps = [int(s) for s in (args.embedded_steps if name == "embedded" else args.scaled_steps).split(",")]
            tmp = Path(tempfile.mkdtemp(prefix=f"balcao-load-{name}-"))
            print(f"{name}: starting (Rasa takes about 30 s)…", file=sys.stderr, flush=True)
            setup = start_setup(name, tmp, telegram.url, twilio.url, secrets_, args.rasa)
            failed = True
            try:
                warm_up(args.rasa if name != "embedded" else 1)
                report[name] = asyncio.run(ramp(setup, steps, args.step_seconds, args.think, secrets_, inboxes))
                report[name]["topology"] = (
                    "1 hub (SQLite) + 1 Rasa"
                    if name == "embedded"
                    else f"HAProxy + 2 hubs (PostgreSQL, Redis) + {args.rasa} Rasa"
                )
                failed = False
            finally:
                setup.stop()
                if failed:
                    print(f"{name}: its logs are kept in {tmp}", file=sys.stderr)
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
    finally:
        telegram.stop()
        twilio.stop()
    report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "load"
    sys.exit(main())
