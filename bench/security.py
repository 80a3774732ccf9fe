"""Security benchmark: does a password-guessing attack slow the customers down, and does any hostile
input get a 500?

* **faq turn under attack** — a widget customer's FAQ turn (WebSocket → hub → real Rasa → the hub's
  knowledge-base action → the "did that solve it?" reply), timed as in ``bench/turn_latency.py``,
  in rounds that alternate without and with an attacker sending ``--rate`` (20) wrong logins a
  second to the hub. The attacker is open-loop (a new attempt every 1/rate s whatever the hub
  answers, as a botnet does), spreads its attempts over ``ADDRESSES`` client addresses (through
  ``X-Forwarded-For`` from a trusted proxy, 127.0.0.1) and over real and unknown accounts, and uses
  both the login API and the login form (with its CSRF token). The result is the ratio of the
  turn's p95 with the attack to its p95 without it in the same run (goal ≤ 1.2), and how the hub
  answered the wrong logins (401 wrong password, 429 throttled).
* **hostile inputs** — malformed, oversized and malicious requests to every kind of route the
  schema does not describe (widget WebSocket frames and handshakes, the login form, pages, static
  files, media links, headers): how many were tried and how many got a 5xx or a dropped
  connection (goal 0). ``tests/hub/test_fuzz_api.py`` covers the OpenAPI routes.

Run ``.venv/bin/python bench/security.py``; it writes ``bench/results/security.json`` (``--quick``:
fewer turns, written under ``bench/.cache/``). It starts its own hub (port 8430, SQLite in a
temporary directory) and Rasa (5430) on 127.0.0.1, bounded in time, and stops both at the end, also
on errors. It reuses the process handling and the turn loop of ``bench/turn_latency.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import httpx
import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package

from services import Services, http_ok, quiet_env
from turn_latency import TURN_TIMEOUT_S, Phase, TurnFailed, WidgetConversation, run_phase, start_hub_and_rasa

HOST = "127.0.0.1"
HUB_PORT = 8430
RASA_PORT = 5430
HUB = f"http://{HOST}:{HUB_PORT}"
RESULTS = ROOT / "bench" / "results" / "security.json"
CACHE_DIR = ROOT / "bench" / ".cache"
BALCAO_BIN = ROOT / ".venv" / "bin" / "balcao"
ATTACK_RATE = 20.0  # wrong logins a second
ATTACKER_NICENESS = 10
ADDRESSES = 200  # client addresses the attack comes from (documentation and private ranges)
REAL_ACCOUNTS = 5  # staff accounts whose passwords the attacker guesses; plus as many unknown e-mails
UNKNOWN_ACCOUNTS = 45
CONCURRENCY = 2  # customers asking at once
ROUNDS = 4  # each round: one phase without the attack, one with it
TURNS_PER_ROUND = 30
QUICK_ROUNDS, QUICK_TURNS = 2, 10
WARMUP_TURNS = 5
RESULT_GOAL_RATIO = 1.2
HOSTILE_TIMEOUT_S = 15.0
SETTLE_LIMIT_S = 90.0  # after an attack, at most this long for the hub to work off what it queued


# -- the attacker -------------------------------------------------------------------------------


@dataclass
class Attack:
    """What the wrong logins met: the hub's answers and how long they took."""

    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0
    settle_s: list[float] = field(default_factory=list)  # after each attack, until the hub answered quickly

    def add(self, other: Attack) -> None:
        """Count another attack's answers with these."""
        self.statuses.update(other.statuses)
        self.latencies += other.latencies
        self.sent += other.sent
        self.seconds += other.seconds

    def summary(self) -> dict:
        ms = np.array(self.latencies) * 1000
        return {
            "sent": self.sent,
            "answered": len(self.latencies),
            "per_second": round(self.sent / self.seconds, 1) if self.seconds else None,
            "status": {str(k): v for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))},
            "wrong_password_401": self.statuses.get(401, 0),
            "throttled_429": self.statuses.get(429, 0),
            "server_errors_5xx": sum(v for k, v in self.statuses.items() if isinstance(k, int) and k >= 500),
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p95_ms": round(float(np.percentile(ms, 95)), 1) if len(ms) else None,
            "hub_settled_after_s": [round(s, 1) for s in self.settle_s],
        }


def attacker_address(n: int) -> str:
    """The n-th of ADDRESSES client addresses (TEST-NET and private ranges: nobody's real address)."""
    n %= ADDRESSES
    return f"198.51.100.{n}" if n < 100 else f"10.{n // 250}.{(n // 50) % 5}.{n % 250}"


def attacker_emails(real: list[str]) -> list[str]:
    """The accounts guessed at: the real ones (a leaked staff list) and unknown ones, interleaved."""
    unknown = [f"guess{i}@loja.test" for i in range(UNKNOWN_ACCOUNTS)]
    return [e for pair in itertools.zip_longest(real * (UNKNOWN_ACCOUNTS // len(real)), unknown) for e in pair if e]


async def wrong_login(http: httpx.AsyncClient, n: int, email: str, attack: Attack) -> None:
    """One wrong login from the n-th address: three in four on the API, one on the form."""
    headers = {"X-Forwarded-For": attacker_address(n)}
    password = f"Winter{n}!"
    started = time.perf_counter()
    try:
        if n % 4:
            response = await http.post(f"{HUB}/api/auth/login", json={"email": email, "password": password}, headers=headers)
        else:
            # A form login, as a browser-driving bot does: the form (its CSRF token and session
            # cookie), then the post, in a cookie jar of its own.
            async with httpx.AsyncClient(timeout=http.timeout, trust_env=False) as own:
                page = await own.get(f"{HUB}/login", headers=headers)
                match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                form = {"email": email, "password": password, "csrf_token": match.group(1) if match else "", "next": "/console"}
                response = await own.post(f"{HUB}/login", data=form, headers=headers)
        attack.statuses[response.status_code] += 1
        attack.latencies.append(time.perf_counter() - started)
    except httpx.HTTPError as exc:
        attack.statuses[type(exc).__name__] += 1


async def attack_until(stop: asyncio.Event, http: httpx.AsyncClient, emails: list[str], rate: float, attack: Attack) -> None:
    """Wrong logins at ``rate`` a second until ``stop`` is set (open loop: none waits for another)."""
    started = time.monotonic()
    tasks: set[asyncio.Task] = set()
    count = 0
    while not stop.is_set():
        n = attack.sent
        task = asyncio.create_task(wrong_login(http, n, emails[n % len(emails)], attack))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        attack.sent += 1
        count += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, started + count / rate - time.monotonic()))
    attack.seconds += time.monotonic() - started
    if tasks:  # the attempts still waiting for an answer: the next calm phase must not inherit them
        _, late = await asyncio.wait(tasks, timeout=TURN_TIMEOUT_S)
        for task in late:
            task.cancel()
            attack.statuses["no answer"] += 1


def attack_in_process(emails: list[str], rate: float, stop: ProcessEvent, out: multiprocessing.Queue) -> None:
    """The attacker's own process (a botnet does not share the customers' CPU time or event loop):
    it says "ready", attacks until ``stop`` is set, then puts its ``Attack`` on ``out``. A botnet
    does not run on the desk's cores either: on this one machine, the attacker yields the CPU to the
    desk (nice 10), so the ratio shows what the hub does with the logins, not what sending them costs
    (the rate it reached is reported: ``wrong_logins.per_second``)."""
    os.nice(ATTACKER_NICENESS)

    async def attack() -> Attack:
        attack, stopping = Attack(), asyncio.Event()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits, trust_env=False) as http:
            hammering = asyncio.create_task(attack_until(stopping, http, emails, rate, attack))
            out.put("ready")
            await asyncio.to_thread(stop.wait)
            stopping.set()
            await hammering
        return attack

    out.put(asyncio.run(attack()))


class Attacker:
    """``attack_in_process`` started and stopped from the customers' event loop."""

    def __init__(self, emails: list[str], rate: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop, self.out = context.Event(), context.Queue()
        self.process = context.Process(target=attack_in_process, args=(emails, rate, self.stop, self.out), daemon=True)

    async def start(self) -> None:
        self.process.start()
        ready = await asyncio.to_thread(self.out.get, True, 60)
        assert ready == "ready", ready

    async def finish(self) -> Attack:
        self.stop.set()
        try:
            return await asyncio.to_thread(self.out.get, True, TURN_TIMEOUT_S + 30)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


# -- the customers ------------------------------------------------------------------------------


class Unopened:
    """A customer whose chat could not even open (session call or history frame too slow): each
    turn asked of it fails, so the failure is counted like a failed turn and a new one is tried."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def ask(self, text: str) -> float:
        raise TurnFailed(f"the chat did not open: {self.reason}")

    async def close(self) -> None:
        pass


def summary(phase: Phase) -> dict:
    """A phase's summary, plus its p95 with every failed turn counted as a timeout (a customer who
    got no answer waited at least that long: leaving failures out would flatter the attack)."""
    out = phase.summary()
    waited = np.array(phase.latencies + [TURN_TIMEOUT_S] * len(phase.errors)) * 1000
    out["p95_ms_failures_as_timeout"] = round(float(np.percentile(waited, 95)), 1) if len(waited) else None
    return out


async def settle(http: httpx.AsyncClient) -> float:
    """Wait until the hub answers its health check quickly again (the logins it accepted before the
    attack stopped are still being checked); returns the seconds it took."""
    started = time.monotonic()
    quick = 0
    while quick < 3 and time.monotonic() - started < SETTLE_LIMIT_S:
        asked = time.perf_counter()
        with contextlib.suppress(httpx.HTTPError):
            await http.get(f"{HUB}/healthz", timeout=SETTLE_LIMIT_S)
        quick = quick + 1 if time.perf_counter() - asked < 0.2 else 0
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def measure(rounds: int, turns: int, rate: float, emails: list[str]) -> tuple[Phase, Phase, Attack]:
    """Rounds of FAQ turns, alternately without and with the attack running."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits, trust_env=False) as http:

        async def customer() -> WidgetConversation | Unopened:
            try:
                return await WidgetConversation.open(http, hub_port=HUB_PORT)
            except (TimeoutError, OSError, httpx.HTTPError, WebSocketException) as exc:
                return Unopened(type(exc).__name__)

        warm = await run_phase(customer, 1, WARMUP_TURNS)
        if warm.errors:
            raise RuntimeError(f"warm-up turns failed: {warm.errors[:3]}")
        calm, attacked, attack = Phase(), Phase(), Attack()
        settled: list[float] = []
        for number in range(rounds):
            calm.add(await run_phase(customer, CONCURRENCY, turns))
            attacker = Attacker(emails, rate)
            await attacker.start()
            await asyncio.sleep(1.0)  # the attack is at full rate before the first turn
            attacked.add(await run_phase(customer, CONCURRENCY, turns))
            attack.add(await attacker.finish())
            settled.append(await settle(http))
            print(
                f"  round {number + 1}/{rounds}: p95 {calm.summary()['p95_ms']} ms calm, "
                f"{attacked.summary()['p95_ms']} ms attacked ({len(attacked.errors)} failed turns); "
                f"logins {dict(attack.statuses)}; the hub settled in {settled[-1]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        attack.settle_s = settled
        return calm, attacked, attack


# -- hostile inputs -----------------------------------------------------------------------------

HOSTILE_TEXTS = (
    "",
    " ",
    "\x00",
    "\x00" * 100,
    "' OR '1'='1' --",
    "'; DROP TABLE users; --",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "{{7*7}}{% raw %}${7*7}",
    "../../../../etc/passwd",
    "%00%2e%2e%2f",
    "\ufffd\uffff\U0010ffff",
    "🙂" * 2000,
    "a" * 5000,
    "a" * 70_000,
    "\u202e\u0000\ufeff",
    "/restart",
    '/handoff{"team": "../admin"}',
    '/nps_score{"score": 99999999999999999999}',
    "/affirm" * 100,
    "\r\nSet-Cookie: x=1",
    "null",
    "[]",
    "{}",
    "-1",
    "1e309",
)


@dataclass
class Hostile:
    """Every hostile input tried, and those the hub answered with a 5xx or by dropping the line."""

    tried: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    server_errors: int = 0
    dropped: int = 0
    statuses: Counter = field(default_factory=Counter)

    def saw(self, target: str, what: str, status: int | str) -> None:
        self.tried[target] += 1
        self.statuses[str(status)] += 1
        if isinstance(status, int) and status >= 500:
            self.server_errors += 1
            self.failures.append(f"{target}: {what[:120]!r} -> {status}")
        elif isinstance(status, str):
            self.dropped += 1
            self.failures.append(f"{target}: {what[:120]!r} -> {status}")

    def summary(self) -> dict:
        return {
            "tried": sum(self.tried.values()),
            "by_target": dict(self.tried),
            "status": dict(sorted(self.statuses.items())),
            "server_errors_5xx": self.server_errors,
            "dropped_connections": self.dropped,
            "examples": self.failures[:10],
        }


async def hostile_http(http: httpx.AsyncClient, hostile: Hostile, target: str, method: str, url: str, **kwargs: object) -> None:
    try:
        response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]  # httpx's keyword arguments
        hostile.saw(target, f"{method} {url} {kwargs}", response.status_code)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError) as exc:
        hostile.saw(target, f"{method} {url} {kwargs}", type(exc).__name__)
    except (httpx.InvalidURL, UnicodeEncodeError):
        pass  # the client itself refuses it: nothing reached the hub


async def hostile_frames(http: httpx.AsyncClient, hostile: Hostile) -> None:
    """Malformed and malicious widget frames, on one connection per batch, like a scripted client."""
    token = (await http.post(f"{HUB}/widget/session", json={})).json()["token"]
    frames: list[str | bytes] = ["not json", "[]", "null", "1", '"text"', "{", b"\x00\x01binary", "{}" * 10_000]
    for text in HOSTILE_TEXTS:
        frames += [
            json.dumps({"type": "message", "text": text, "id": text[:50]}),
            json.dumps({"type": "message", "text": "oi", "payload": text}),
            json.dumps({"type": text[:40], "text": text}),
        ]
    frames += [
        json.dumps({"type": "message", "text": ["a", "list"], "id": {"an": "object"}}),
        json.dumps({"type": "message", "text": None, "id": None, "payload": 12}),
        json.dumps({"type": "message", "text": {"nested": [1] * 1000}}),
        json.dumps({"type": "typing", "text": "x" * 10_000}),
        json.dumps({"type": "message", "text": "a", "id": "x" * 10_000}),
    ]
    for start in range(0, len(frames), 12):  # a fresh customer now and then: an escalated chat stops the bot
        batch = frames[start : start + 12]
        try:
            async with connect(
                f"ws://{HOST}:{HUB_PORT}/widget/ws?lang=pt-BR",
                subprotocols=["balcao.widget", f"balcao.token.{token}"],
                proxy=None,
                max_size=None,
            ) as ws:
                await asyncio.wait_for(ws.recv(), HOSTILE_TIMEOUT_S)
                for frame in batch:
                    await ws.send(frame)
                    # Any answer, or none (dropped frames are not answered); the line must stay up.
                    with contextlib.suppress(TimeoutError):
                        while True:
                            answer = json.loads(await asyncio.wait_for(ws.recv(), 1.5))
                            if answer.get("type") in ("ack", "error"):
                                break
                    hostile.saw("widget WebSocket frame", str(frame)[:120], 200)
                await ws.ping()
        except WebSocketException as exc:
            close = getattr(exc, "rcvd", None)
            code = getattr(close, "code", None)
            if code in (1000, 1008, 1009):  # a policy refusal is an answer, not a crash
                hostile.saw("widget WebSocket frame", f"batch {start}", 400)
            else:
                hostile.saw("widget WebSocket frame", f"batch {start}: {exc!r}", "closed" if code != 1011 else 500)
        token = (await http.post(f"{HUB}/widget/session", json={})).json()["token"]


async def hostile_handshakes(hostile: Hostile) -> None:
    """Widget and console WebSocket handshakes with forged, missing or absurd credentials."""
    offers: list[tuple[str, list[str]]] = [
        ("/widget/ws", []),
        ("/widget/ws", ["balcao.widget"]),
        ("/widget/ws", ["balcao.widget", "balcao.token.forged.token"]),
        ("/widget/ws", ["balcao.widget", "balcao.token." + "a" * 3000]),
        ("/widget/ws?lang=" + "x" * 3000, ["balcao.widget", "balcao.token.x"]),
        ("/widget/ws?lang=%00", ["balcao.widget", "balcao.token.x"]),
        ("/api/agent/ws", []),
        ("/api/agent/ws", ["balcao.widget"]),
        ("/nowhere/ws", []),
    ]
    for path, protocols in offers:
        try:
            async with connect(f"ws://{HOST}:{HUB_PORT}{path}", subprotocols=protocols or None, proxy=None) as ws:  # type: ignore[arg-type]  # websockets' Subprotocol is a str
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 2)
                hostile.saw("WebSocket handshake", path, 200)
        except InvalidStatus as exc:
            hostile.saw("WebSocket handshake", path, exc.response.status_code)
        except WebSocketException as exc:
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            hostile.saw("WebSocket handshake", path, 500 if code == 1011 else 403)
        except OSError as exc:
            hostile.saw("WebSocket handshake", path, type(exc).__name__)


async def hostile_requests(http: httpx.AsyncClient, hostile: Hostile) -> None:
    """The login form, pages, static files, media links and headers, outside the API schema."""
    for text in HOSTILE_TEXTS:
        short = text[:3000]
        await hostile_http(http, hostile, "login form", "POST", f"{HUB}/login", data={"email": short, "password": short})
        await hostile_http(
            http,
            hostile,
            "login form",
            "POST",
            f"{HUB}/login",
            data={"email": "a@b.c", "password": "x", "csrf_token": short, "next": short},
        )
        for page in ("/", "/login", "/console", "/dashboard", "/kb", "/logout"):
            await hostile_http(http, hostile, "pages", "GET", f"{HUB}{page}", params={"lang": short, "next": short})
        for prefix in ("/media/", "/console/static/", "/dashboard/static/", "/kb/static/"):
            await hostile_http(http, hostile, "files", "GET", f"{HUB}{prefix}{short[:200]}")
        await hostile_http(http, hostile, "widget session", "POST", f"{HUB}/widget/session", content=short.encode())
        await hostile_http(http, hostile, "widget session", "POST", f"{HUB}/widget/session", json={"token": short})
    weird_headers = [
        {"Cookie": "balcao_session=" + "A" * 4000},
        {"Cookie": "balcao_session=not.a.signed.cookie"},
        {"Cookie": "balcao_session=eyJ1aWQiOiAxfQ==.fake.sig"},
        {"X-Forwarded-For": "not-an-address, ::::, 999.1.1.1"},
        {"X-Forwarded-For": ", ".join(["1.2.3.4"] * 500)},
        {"Content-Type": "application/json; charset=utf-42"},
        {"Accept-Language": "x" * 2000},
        {"X-CSRF-Token": "é".encode()},  # bytes that are not ASCII
        {"Range": "bytes=999999999-"},
    ]
    for headers in weird_headers:
        for method, path in (
            ("GET", "/console"),
            ("GET", "/api/me"),
            ("POST", "/api/agent/status"),
            ("GET", "/kb/static/kb_editor.js"),
        ):
            await hostile_http(http, hostile, "headers", method, f"{HUB}{path}", headers=headers)
    for path in (
        "/media/..%2f..%2fsecrets.json",
        "/console/static/..%2f..%2f..%2fhub%2fsettings.py",
        "/%2e%2e/%2e%2e/etc/passwd",
    ):
        await hostile_http(http, hostile, "files", "GET", f"{HUB}{path}")
    await hostile_http(http, hostile, "actions webhook", "POST", f"{HUB}/actions/webhook", json={"next_action": "x"})
    await hostile_http(http, hostile, "actions webhook", "POST", f"{HUB}/actions/webhook", content=b"\x00" * 1000)


async def try_hostile_inputs() -> Hostile:
    hostile = Hostile()
    async with httpx.AsyncClient(timeout=HOSTILE_TIMEOUT_S, trust_env=False) as http:
        await hostile_requests(http, hostile)
        await hostile_handshakes(hostile)
        await hostile_frames(http, hostile)
    return hostile


# -- running it ---------------------------------------------------------------------------------


def add_accounts(env: dict[str, str]) -> list[str]:
    """Staff accounts on the hub's database before it starts (the attacker's "leaked" list)."""
    emails = []
    for i in range(REAL_ACCOUNTS):
        email = f"agent{i}@loja.test"
        command = [str(BALCAO_BIN), "user", "add", "--email", email, "--name", f"Agent {i}", "--team", "geral"]
        done = subprocess.run(
            [*command, "--password", f"a-long-secret-{i}-{uuid.uuid4().hex}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"balcao user add failed:\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}")
        emails.append(email)
    return emails


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=ATTACK_RATE, help="wrong logins a second (default 20)")
    parser.add_argument("--quick", action="store_true", help="few turns, written to bench/.cache/security.quick.json")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and databases")
    args = parser.parse_args(argv)
    rounds, turns = (QUICK_ROUNDS, QUICK_TURNS) if args.quick else (ROUNDS, TURNS_PER_ROUND)
    results_file = CACHE_DIR / "security.quick.json" if args.quick else RESULTS

    started = time.monotonic()
    load_before = os.getloadavg()
    # The project's own code (also when the `balcao` script was installed from another checkout),
    # and the proxy in front of the hub is 127.0.0.1: X-Forwarded-For names the client.
    extra = {"PYTHONPATH": str(ROOT), "BALCAO_TRUSTED_PROXIES": HOST}
    with Services.run("balcao-bench-security-", keep_logs=args.keep_logs) as services:
        tmp = services.logs
        hub, rasa, token = start_hub_and_rasa(services, tmp, hub_port=HUB_PORT, rasa_port=RASA_PORT, **extra)
        env = quiet_env(
            BALCAO_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'b.db'}", BALCAO_SECRETS_FILE=str(tmp / "secrets.json"), **extra
        )
        emails = attacker_emails(add_accounts(env))
        print("waiting for the hub and Rasa (about 30 s)…", file=sys.stderr, flush=True)
        services.ready(hub, lambda: http_ok(f"{HUB}/healthz"))
        services.ready(rasa, lambda: http_ok(f"http://{HOST}:{RASA_PORT}/status", {"token": token}, key="model_file"))
        services.wait_all()
        print(
            f"{rounds} rounds of {turns} FAQ turns, calm then under {args.rate:.0f} wrong logins/s…", file=sys.stderr, flush=True
        )
        calm, attacked, attack = asyncio.run(measure(rounds, turns, args.rate, emails))
        print("hostile inputs…", file=sys.stderr, flush=True)
        hostile = asyncio.run(try_hostile_inputs())

    load_after = os.getloadavg()
    calm_s, attacked_s = summary(calm), summary(attacked)
    key = "p95_ms_failures_as_timeout"
    ratio = round(attacked_s[key] / calm_s[key], 2) if calm_s[key] and attacked_s[key] else None
    output = {
        "faq_turn_calm": calm_s,
        "faq_turn_under_attack": attacked_s,
        "ratio_p95_under_attack": ratio,
        "goal_ratio_p95": RESULT_GOAL_RATIO,
        "wrong_logins": {
            **attack.summary(),
            "target_per_second": args.rate,
            "client_addresses": ADDRESSES,
            "accounts": {"real": REAL_ACCOUNTS, "unknown": UNKNOWN_ACCOUNTS},
        },
        "hostile_inputs": hostile.summary(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "notes": (
            f"127.0.0.1 only, {os.cpu_count()} CPUs shared with whatever else runs here (1-minute load "
            f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after). Hub (SQLite) and the real "
            f"Rasa server; {CONCURRENCY} widget customers ask FAQ questions one after another, timed to "
            f"the bot frame with the /affirm button. {rounds} rounds alternate {turns} turns without and "
            f"{turns} with the attack: {args.rate:.0f} wrong logins/s from a process of its own (nice {ATTACKER_NICENESS}), open loop, 3 in 4 on "
            f"/api/auth/login and 1 in 4 on the /login form (GET for the CSRF token, then POST), from "
            f"{ADDRESSES} addresses in X-Forwarded-For (127.0.0.1 a trusted proxy), on "
            f"{REAL_ACCOUNTS} real accounts (wrong passwords) and {UNKNOWN_ACCOUNTS} unknown e-mails. "
            f"ratio = p95 under attack / p95 calm, same run, a failed turn (error, or no answer within "
            f"{TURN_TIMEOUT_S:.0f} s, or the chat did not open) counted as {TURN_TIMEOUT_S:.0f} s. Hostile inputs: malformed and malicious "
            f"widget frames and handshakes, login form fields, page parameters, file paths, headers."
        ),
    }
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    print(
        f"\nFAQ turn p95: {calm_s[key]} ms calm, {attacked_s[key]} ms under attack "
        f"({attacked_s['errors']} of {attacked_s['n'] + attacked_s['errors']} turns failed): ratio {ratio} "
        f"(goal ≤ {RESULT_GOAL_RATIO})\nwrong logins: {output['wrong_logins']['status']} "
        f"({output['wrong_logins']['per_second']}/s)\nhostile inputs: {output['hostile_inputs']['tried']} tried, "
        f"{hostile.server_errors} got a 5xx, {hostile.dropped} dropped\nwritten to {results_file.relative_to(ROOT)} "
        f"in {output['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
