"""Turn-latency benchmark: a Balcão FAQ turn beside a minimal reference Rasa project, in one run.

* **balcao** — a customer's knowledge-base question through the whole desk: widget WebSocket →
  hub (store, route) → Rasa REST channel → custom action ``action_kb_answer`` served by the hub
  (knowledge-base search) → hub (store the replies) → widget. A turn is timed from sending the
  frame to receiving the last reply of a FAQ answer, the "did that solve it?" message (a bot
  message offering the ``/affirm`` button).
* **reference** — ``bench/reference/``: one intent, one rule, one custom action with a fixed text
  in a rasa-sdk action server; a turn is one ``POST /webhooks/rest/webhook``.
* **balcao_rasa_only** (diagnostic) — the same questions sent straight to Balcão's Rasa, the
  action still served by the hub: balcao minus this is what the hub adds around Rasa.

All are measured on this machine in the same run, taking turns in rounds, at 1 and at 10
simultaneous conversations, and the result is the ratio balcao / reference of the p50 and p95
latencies (absolute numbers move with the machine and its load; the ratio is what a change is
judged by).

It also records the CPU milliseconds each server spent per FAQ turn (``/proc/PID/stat`` user +
system time, read around every round; ``bench/services.py``), far steadier than latency on a shared
machine: per part for Balcão (the hub's own work, the knowledge-base action the hub serves to Rasa,
Rasa) and for the reference (Rasa, the action server), each server's idle CPU taken out
(``cpu_at_level``). ``BALCAO_BENCH_PROFILE_HUB=1`` runs the hub under cProfile (with
``--keep-logs``: ``hub.prof`` beside the logs; its overhead inflates the hub's CPU numbers).

Run ``.venv/bin/python bench/turn_latency.py``; it writes ``bench/results/turn_latency.json``
(``--quick``: a smoke test with a few turns, written under ``bench/.cache/``; ``--levels 1``: only
one concurrency level).
It starts its own hub (port 8100, SQLite in a temporary directory), Rasa (5105), reference Rasa
(5205) and reference action server (5255), all on 127.0.0.1, and stops every one of them at the
end, also on errors. A ``balcao run`` on the default ports is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import the project's packages

from hub.rasa_model import RASA_VENV, ensure_model, rasa_executable, server_command, server_env

sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package
from services import Service, Services, http_ok, quiet_env

# BALCAO_BENCH_PORT_OFFSET moves all four ports, so a second run (e.g. a profiled one) can run beside.
_OFFSET = int(os.environ.get("BALCAO_BENCH_PORT_OFFSET", "0"))
HUB_PORT = 8100 + _OFFSET
RASA_PORT = 5105 + _OFFSET
REF_RASA_PORT = 5205 + _OFFSET
REF_ACTIONS_PORT = 5255 + _OFFSET
HOST = "127.0.0.1"

REFERENCE_DIR = ROOT / "bench" / "reference"
REFERENCE_INPUTS = ("config.yml", "domain.yml", "data")
CACHE_DIR = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "turn_latency.json"
BALCAO_BIN = ROOT / ".venv" / "bin" / "balcao"
PYTHON = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(REFERENCE_DIR))  # its actions package: each reply is checked against it
from actions.actions import FIXED_TEXT

# Questions the starter knowledge base answers outright (decision "answer", right article, checked
# with `balcao kb search`) and that the Rasa NLU sends to the FAQ action: no complaint words such
# as "cancelar", which would hand the chat to a person and end the bot's turns.
QUESTIONS = (
    "qual o prazo de entrega?",
    "como rastrear meu pedido?",
    "esqueci minha senha",
    "posso parcelar no cartão de crédito?",
    "quanto tempo demora o estorno?",
    "como faço para trocar um produto?",
    "o frete é grátis?",
    "qual a garantia dos produtos?",
    "posso retirar na loja?",
    "como pagar com boleto?",
)
WARMUP_TURNS = 5
TURNS = {1: 60, 10: 200}  # measured turns per concurrency level
QUICK_TURNS = {1: 10, 10: 30}  # --quick: a smoke test of the whole set-up
TURNS_PER_CONVERSATION = 10  # then a fresh customer: real chats are short, and trackers stay short
PHASE_LIMIT_S = 60.0  # per round and system: no new turns after this, whatever is left of the count
TURN_TIMEOUT_S = 30.0


class TurnFailed(Exception):
    """A turn did not end with the expected reply (error frame, escalation, timeout, wrong text)."""


class Conversation(Protocol):
    """One customer talking to one of the systems."""

    async def ask(self, text: str) -> float:
        """Send one question; return the seconds until its (last) reply arrived."""

    async def close(self) -> None: ...


# -- processes ------------------------------------------------------------------------------


def start_hub_and_rasa(
    services: Services, tmp: Path, *, hub_port: int, rasa_port: int, rasa_name: str = "balcao-rasa", **extra_env: str
) -> tuple[Service, Service, str]:
    """The hub (``balcao serve``) on a fresh SQLite database, then its Rasa server; ``extra_env``
    adds settings (e.g. channels pointed at fakes). Returns (hub, rasa, Rasa token)."""
    # The project's own code, also when the `balcao` script was installed from another checkout.
    extra_env = {"PYTHONPATH": str(ROOT), **extra_env}
    token = secrets.token_hex(24)  # hex: a token starting with "-" would read as an option of `rasa run`
    actions_token = secrets.token_hex(24)  # Rasa → hub, a secret of its own (docs/secrets.md)
    # A copy of the shipped thresholds, so `balcao prepare` can never rewrite the repository's file,
    # and of the hub's embedding cache, so start-up does not re-encode every article.
    calibration = tmp / "calibration.json"
    shutil.copy(ROOT / "data" / "kb" / "calibration.json", calibration)
    index_dir = tmp / "index"
    if (ROOT / "var" / "index").is_dir():
        shutil.copytree(ROOT / "var" / "index", index_dir)
    env = quiet_env(
        BALCAO_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'b.db'}",
        BALCAO_HOST=HOST,
        BALCAO_PORT=str(hub_port),
        BALCAO_RASA_URL=f"http://{HOST}:{rasa_port}",
        BALCAO_RASA_TOKEN=token,
        BALCAO_ACTIONS_TOKEN=actions_token,
        BALCAO_SECRETS_FILE=str(tmp / "secrets.json"),
        BALCAO_INACTIVITY_SECONDS="3600",  # no endings (NPS) in the middle of the measurement
        BALCAO_CALIBRATION_FILE=str(calibration),
        BALCAO_INDEX_DIR=str(index_dir),
        # Every simulated customer comes from 127.0.0.1 and writes without pause: no rate limits.
        BALCAO_RATE_IP_PER_MINUTE="1000000",
        BALCAO_RATE_IP_BURST="1000000",
        BALCAO_RATE_CUSTOMER_PER_MINUTE="1000000",
        BALCAO_RATE_CUSTOMER_BURST="1000000",
        **extra_env,
    )
    print("balcao: prepare (migrations, starter articles)…", file=sys.stderr, flush=True)
    prepared = subprocess.run([str(BALCAO_BIN), "prepare"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if prepared.returncode != 0:
        raise RuntimeError(f"balcao prepare failed:\n{prepared.stdout[-2000:]}\n{prepared.stderr[-3000:]}")
    # BALCAO_BENCH_PROFILE_HUB=1: the hub runs under cProfile, its profile kept as <logs>/hub.prof.
    if os.environ.get("BALCAO_BENCH_PROFILE_HUB"):
        command = [str(PYTHON), str(ROOT / "bench" / "profile_hub.py"), str(tmp / "hub.prof")]
    else:
        command = [str(BALCAO_BIN), "serve"]
    hub = services.start("hub", command, cwd=ROOT, env=env)
    model = ensure_model(quiet=True)
    rasa_env = server_env(
        actions_url=f"http://{HOST}:{hub_port}/actions/webhook", actions_token=actions_token, tracker_db=tmp / "tracker.db"
    )
    rasa_env.update(RASA_TELEMETRY_ENABLED="false")
    rasa = services.start(
        rasa_name, server_command(model, port=rasa_port, token=token), cwd=ROOT, env=rasa_env, stop_signal=signal.SIGINT
    )
    return hub, rasa, token


def start_balcao(services: Services) -> dict[str, Service]:
    """The hub on a fresh SQLite database and its Rasa server, ready checks queued."""
    hub, rasa, token = start_hub_and_rasa(services, services.logs, hub_port=HUB_PORT, rasa_port=RASA_PORT)
    services.ready(hub, lambda: http_ok(f"http://{HOST}:{HUB_PORT}/healthz"))
    services.ready(rasa, lambda: http_ok(f"http://{HOST}:{RASA_PORT}/status", {"token": token}, key="model_file"))
    return {"hub": hub, "rasa": rasa}


def reference_model() -> Path:
    """The reference model, trained once per content of its inputs (like hub.rasa_model does)."""
    digest = hashlib.sha256()
    for name in REFERENCE_INPUTS:
        path = REFERENCE_DIR / name
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(REFERENCE_DIR)).encode() + b"\0" + file.read_bytes())
    name = f"reference-{digest.hexdigest()[:16]}"
    out = CACHE_DIR / "reference-models"
    model = out / f"{name}.tar.gz"
    if model.exists():
        return model
    print("reference: training its Rasa model (once; about a minute)…", file=sys.stderr, flush=True)
    command = [
        str(rasa_executable()),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(out),
        "--fixed-model-name",
        name,
    ]
    # Rasa's training cache goes under bench/.cache, not into a .rasa/ folder in the source tree.
    env = quiet_env(OMP_NUM_THREADS="2", RASA_CACHE_DIRECTORY=str(CACHE_DIR / "rasa-train-cache"))
    result = subprocess.run(command, cwd=REFERENCE_DIR, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not model.exists():
        raise RuntimeError(f"training the reference model failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return model


def start_reference(services: Services, *, launcher: bool = False) -> dict[str, Service]:
    """The reference action server (rasa-sdk, Python 3.11 venv) and the reference Rasa server
    (``launcher``: through ``bot/rasa_server.py``, with the per-turn costs Balcão's Rasa no longer
    pays taken out of the reference's too, so the ratio shows only what the desk adds)."""
    model = reference_model()
    rasa_cli = [str(RASA_VENV / "bin" / "python"), str(ROOT / "bot" / "rasa_server.py")] if launcher else [str(rasa_executable())]
    actions = services.start(
        "reference-actions",
        [str(PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(REF_ACTIONS_PORT), "--quiet"],
        cwd=REFERENCE_DIR,
        env=quiet_env(PYTHONPATH=str(REFERENCE_DIR)),
        stop_signal=signal.SIGINT,  # rasa-sdk 3.21's server stops on SIGINT, not SIGTERM
    )
    rasa = services.start(
        "reference-rasa",
        [
            *rasa_cli,
            "run",
            "--enable-api",
            "--interface",
            HOST,
            "--port",
            str(REF_RASA_PORT),
            "--model",
            str(model),
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
            "--quiet",
        ],
        cwd=REFERENCE_DIR,
        env=quiet_env(BENCH_ACTIONS_URL=f"http://{HOST}:{REF_ACTIONS_PORT}/webhook", SQLALCHEMY_SILENCE_UBER_WARNING="1"),
        stop_signal=signal.SIGINT,
    )
    services.ready(actions, lambda: http_ok(f"http://{HOST}:{REF_ACTIONS_PORT}/health"))
    services.ready(rasa, lambda: http_ok(f"http://{HOST}:{REF_RASA_PORT}/status", key="model_file"))
    return {"reference_rasa": rasa, "reference_actions": actions}


# -- the two kinds of conversation ------------------------------------------------------------


class WidgetConversation:
    """A new website-widget customer: a token, a WebSocket, and FAQ questions typed into it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, http: httpx.AsyncClient, *, hub_port: int = HUB_PORT) -> WidgetConversation:
        """A new customer of the hub on ``hub_port`` (every benchmark's widget customers are these)."""
        response = await http.post(f"http://{HOST}:{hub_port}/widget/session", json={})
        response.raise_for_status()
        token = response.json()["token"]
        ws = await connect(
            f"ws://{HOST}:{hub_port}/widget/ws?lang=pt-BR",
            subprotocols=["balcao.widget", f"balcao.token.{token}"],
            proxy=None,
            max_size=None,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), TURN_TIMEOUT_S))
        if first.get("type") != "history":
            raise TurnFailed(f"expected the history frame first, got {first!r}")
        return cls(ws)

    async def ask(self, text: str) -> float:
        frame_id = uuid.uuid4().hex
        started = time.perf_counter()
        await self.ws.send(json.dumps({"type": "message", "text": text, "id": frame_id}))
        deadline = started + TURN_TIMEOUT_S
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TurnFailed("timeout")
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            except TimeoutError as exc:
                raise TurnFailed("timeout") from exc
            kind = frame.get("type")
            if kind == "message" and frame.get("sender") == "bot":
                if is_faq_answer_end(frame):
                    return time.perf_counter() - started
            elif kind == "error":
                raise TurnFailed(f"error frame: {frame.get('code')}: {frame.get('message')}")
            elif kind == "state" and frame.get("state") != "bot":
                raise TurnFailed(f"the conversation left the bot: {frame.get('state')}")
            elif kind == "ack" and frame.get("id") == frame_id:
                # The hub acknowledges a turn after sending its replies: no "/affirm" came.
                raise TurnFailed("the turn ended without a FAQ answer")
            # anything else: our own message echoed, the article text, an older turn's ack

    async def close(self) -> None:
        await self.ws.close()


def is_reference_answer(message: dict) -> bool:
    return message.get("text") == FIXED_TEXT


def is_faq_answer_end(message: dict) -> bool:
    """The last reply of a Balcão FAQ answer: "did that solve it?" with the /affirm button."""
    return any(b.get("payload") == "/affirm" for b in message.get("buttons") or [])


class RestConversation:
    """A sender of a Rasa server's REST channel; a turn is one webhook call."""

    def __init__(
        self, http: httpx.AsyncClient, port: int, expected: Callable[[dict], bool], metadata: dict | None = None
    ) -> None:
        self.http = http
        self.url = f"http://{HOST}:{port}/webhooks/rest/webhook"
        self.expected = expected
        self.metadata = metadata or {}
        self.sender = f"bench-{uuid.uuid4().hex}"

    async def ask(self, text: str) -> float:
        started = time.perf_counter()
        response = await self.http.post(self.url, json={"sender": self.sender, "message": text, "metadata": self.metadata})
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or not any(self.expected(m) for m in response.json()):
            raise TurnFailed(f"unexpected reply {response.status_code}: {response.text[:200]}")
        return elapsed

    async def close(self) -> None:
        pass


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one measured phase collected."""

    latencies: list[float] = field(default_factory=list)
    first_turn: list[bool] = field(default_factory=list)  # did this turn open a conversation?
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per server, spent during the phase

    def add(self, other: Phase) -> None:
        """Merge a round into this phase."""
        self.latencies += other.latencies
        self.first_turn += other.first_turn
        self.errors += other.errors
        self.seconds += other.seconds
        for server, ms in other.cpu_ms.items():
            self.cpu_ms[server] = self.cpu_ms.get(server, 0.0) + ms

    def summary(self) -> dict:
        ms = np.array(self.latencies) * 1000
        first = np.array(self.first_turn, dtype=bool)

        def p50(values: np.ndarray) -> float | None:
            return round(float(np.percentile(values, 50)), 1) if len(values) else None

        return {
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p95_ms": round(float(np.percentile(ms, 95)), 1) if len(ms) else None,
            "n": len(ms),
            "mean_ms": round(float(ms.mean()), 1) if len(ms) else None,
            "max_ms": round(float(ms.max()), 1) if len(ms) else None,
            "turns_per_s": round(len(ms) / self.seconds, 2) if self.seconds else None,
            "errors": len(self.errors),
            "error_examples": sorted(set(self.errors))[:3],
            # A conversation's first turn also starts the chat and Rasa's session (one more action
            # call): shown apart, because one turn in TURNS_PER_CONVERSATION is one, and at that
            # share it is what the p95 of a single customer measures.
            "p50_first_turn_ms": p50(ms[first]),
            "p50_later_turns_ms": p50(ms[~first]),
            # CPU each server spent during this system's turns, per turn tried (failed ones too);
            # another system's servers only idle meanwhile (see ``cpu_report``).
            "cpu_ms_per_turn": {
                server: round(ms_ / max(1, len(self.latencies) + len(self.errors)), 2) for server, ms_ in self.cpu_ms.items()
            },
            "cpu_seconds": {server: round(ms_ / 1000, 3) for server, ms_ in self.cpu_ms.items()},
            "seconds": round(self.seconds, 2),
        }


async def timed_phase(
    servers: dict[str, Service], new_conversation: Callable[[], Awaitable[Conversation]], concurrency: int, turns: int
) -> Phase:
    """``run_phase``, with the CPU time every server spent meanwhile (``/proc``, see bench/services.py)."""
    before = {name: service.cpu_ms() for name, service in servers.items()}
    phase = await run_phase(new_conversation, concurrency, turns)
    phase.cpu_ms = {name: service.cpu_ms() - before[name] for name, service in servers.items()}
    return phase


async def run_phase(new_conversation: Callable[[], Awaitable[Conversation]], concurrency: int, turns: int) -> Phase:
    """``turns`` questions shared among ``concurrency`` customers asking one after the other,
    each customer replaced by a new one every TURNS_PER_CONVERSATION questions."""
    phase = Phase()
    numbers = itertools.count()
    started = time.monotonic()

    async def customer() -> None:
        conversation: Conversation | None = None
        asked = 0
        try:
            while (n := next(numbers)) < turns and time.monotonic() - started < PHASE_LIMIT_S:
                if conversation is None or asked >= TURNS_PER_CONVERSATION:
                    if conversation is not None:
                        await conversation.close()
                    conversation, asked = await new_conversation(), 0
                asked += 1
                try:
                    latency = await conversation.ask(QUESTIONS[n % len(QUESTIONS)])
                    phase.latencies.append(latency)
                    phase.first_turn.append(asked == 1)
                except TurnFailed as exc:
                    # A failed chat may be stuck (escalated, half-answered): the next turn starts anew.
                    phase.errors.append(str(exc))
                    await conversation.close()
                    conversation = None
        finally:
            if conversation is not None:
                await conversation.close()

    await asyncio.gather(*(customer() for _ in range(concurrency)))
    phase.seconds = time.monotonic() - started
    return phase


async def measure(turns_by_level: dict[int, int], servers: dict[str, Service]) -> dict[str, dict[str, dict]]:
    """Warm every system up, then measure each concurrency level (latencies, and the CPU time
    every one of ``servers`` spent during each system's turns)."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits, trust_env=False) as http:

        async def reference_sender() -> Conversation:
            return RestConversation(http, REF_RASA_PORT, is_reference_answer)

        async def balcao_rasa_sender() -> Conversation:
            # Balcão's own Rasa without the hub in front (the action still runs in the hub): splits
            # a balcao turn into "Rasa + knowledge-base action" and "what the hub adds around it".
            return RestConversation(http, RASA_PORT, is_faq_answer_end, {"language": "pt-BR", "channel": "bench"})

        systems: dict[str, Callable[[], Awaitable[Conversation]]] = {
            "balcao": lambda: WidgetConversation.open(http),
            "reference": reference_sender,
            "balcao_rasa_only": balcao_rasa_sender,
        }
        for name, new in systems.items():
            warm = await run_phase(new, 1, WARMUP_TURNS)
            if warm.errors:
                raise RuntimeError(f"{name}: warm-up turns failed: {warm.errors[:3]}")
        results: dict[str, dict[str, dict]] = {name: {} for name in systems}
        for concurrency, turns in turns_by_level.items():
            # In rounds of one whole conversation per customer, the systems taking turns: the
            # machine is shared (other test suites, other Rasa servers), and interleaving spreads
            # whatever else it does over every system alike instead of skewing one of them.
            per_round = concurrency * TURNS_PER_CONVERSATION
            phases = {name: Phase() for name in systems}
            print(f"{turns} turns each at concurrency {concurrency}, in rounds of {per_round}…", file=sys.stderr, flush=True)
            for done in range(0, turns, per_round):
                for name, new in systems.items():
                    phases[name].add(await timed_phase(servers, new, concurrency, min(per_round, turns - done)))
            for name, phase in phases.items():
                summary = results[name][str(concurrency)] = phase.summary()
                print(
                    f"  {name}: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, n {summary['n']}, "
                    f"errors {summary['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
        return results


def cpu_report(results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """CPU milliseconds per FAQ turn, per part, at each concurrency level (``cpu_at_level``)."""
    return {level: cpu_at_level({name: results[name][level] for name in results}) for level in results["balcao"]}


def cpu_at_level(phase: dict[str, dict]) -> dict:
    """CPU milliseconds per FAQ turn, per part, from one level's summaries (``phase[system]``).

    The hub serves the Rasa actions too (``/actions/webhook``): during ``balcao_rasa_only`` turns
    the hub does nothing but run the action, so its CPU there is the action's, and the rest of its
    CPU in a ``balcao`` turn is the desk's own (widget, storage, routing, delivery). Each server's
    idle CPU (timers, polling), measured while another system's turns run, is taken out.
    """

    def per_s(name: str, server: str) -> float:
        return phase[name]["cpu_seconds"][server] / max(phase[name]["seconds"], 1e-9)

    idle_s = {
        "hub": per_s("reference", "hub"),
        "rasa": per_s("reference", "rasa"),
        "reference_rasa": per_s("balcao", "reference_rasa"),
        "reference_actions": per_s("balcao", "reference_actions"),
    }

    def busy_ms(name: str, server: str) -> float:
        """CPU ms per turn of ``server`` during ``name``'s turns, its idle CPU taken out."""
        spent = phase[name]["cpu_seconds"][server] - idle_s[server] * phase[name]["seconds"]
        return max(0.0, spent * 1000 / max(1, phase[name]["n"] + phase[name]["errors"]))

    action, hub, rasa = busy_ms("balcao_rasa_only", "hub"), busy_ms("balcao", "hub"), busy_ms("balcao", "rasa")
    balcao = {
        "hub_desk": round(max(0.0, hub - action), 1),
        "action_in_hub": round(action, 1),
        "rasa": round(rasa, 1),
        "total": round(hub + rasa, 1),
    }
    ref_rasa, ref_actions = busy_ms("reference", "reference_rasa"), busy_ms("reference", "reference_actions")
    reference = {"rasa": round(ref_rasa, 1), "action_server": round(ref_actions, 1), "total": round(ref_rasa + ref_actions, 1)}
    return {
        "balcao": balcao,
        "reference": reference,
        "balcao_rasa_only": {"rasa": round(busy_ms("balcao_rasa_only", "rasa"), 1), "action_in_hub": round(action, 1)},
        "ratio_total": round(balcao["total"] / reference["total"], 2) if reference["total"] else None,
        "idle_cpu_ms_per_s": {server: round(v * 1000, 2) for server, v in idle_s.items()},
    }


def ratios(results: dict[str, dict[str, dict]], key: str) -> dict[str, float | None]:
    out = {}
    for level, balcao in results["balcao"].items():
        reference = results["reference"][level]
        ok = balcao[key] is not None and reference[key]
        out[level] = round(balcao[key] / reference[key], 2) if ok else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and databases")
    parser.add_argument("--out", type=Path, help="write the results here instead (e.g. a profiled run's)")
    parser.add_argument("--levels", help="concurrency levels to measure, e.g. 1 or 1,10 (default: 1,10)")
    parser.add_argument("--quick", action="store_true", help="few turns, written to bench/.cache/turn_latency.quick.json")
    parser.add_argument(
        "--reference-launcher",
        action="store_true",
        help="run the reference Rasa through bot/rasa_server.py too (diagnostic: the desk's cost beside the same Rasa)",
    )
    args = parser.parse_args(argv)
    turns_by_level = QUICK_TURNS if args.quick else TURNS
    # A smoke test is not a result: it goes to the (ignored) cache folder.
    results_file = args.out or (CACHE_DIR / "turn_latency.quick.json" if args.quick else RESULTS)

    if args.levels:
        turns_by_level = {int(level): turns_by_level.get(int(level), TURNS[10]) for level in args.levels.split(",")}
    started = time.monotonic()
    load_before = os.getloadavg()
    with Services.run("balcao-bench-", keep_logs=args.keep_logs) as services:
        servers = {**start_balcao(services), **start_reference(services, launcher=args.reference_launcher)}
        print("waiting for the servers (Rasa takes about 30 s)…", file=sys.stderr, flush=True)
        services.wait_all()
        results = asyncio.run(measure(turns_by_level, servers))

    load_after = os.getloadavg()
    output = {
        **results,
        "ratio_p50": ratios(results, "p50_ms"),
        "ratio_p95": ratios(results, "p95_ms"),
        "cpu_ms_per_turn": cpu_report(results),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "notes": (
            f"127.0.0.1 only, {os.cpu_count()} CPUs shared with whatever else runs here (1-minute "
            f"load average {load_before[0]:.2f} before the run, {load_after[0]:.2f} after it). "
            f"balcao: widget WebSocket -> hub -> Rasa REST -> action_kb_answer in the hub -> widget, "
            f"timed to the bot frame with the /affirm button; hub on SQLite, Rasa trackers in SQLite. "
            f"reference: bench/reference (DIET 20 epochs, no transformer layers, RulePolicy, one "
            f"custom action with a fixed text in a rasa-sdk action server, in-memory "
            f"tracker store), POST /webhooks/rest/webhook. {WARMUP_TURNS} warm-up turns each; "
            f"customers ask {TURNS_PER_CONVERSATION} questions then a new customer starts (its first "
            f"turn includes the session start); {len(QUESTIONS)} FAQ questions in turn; the systems "
            f"take turns in rounds of one conversation per customer (each round bounded to "
            f"{PHASE_LIMIT_S:.0f} s), so load from other processes on this shared machine falls on "
            f"all of them alike; ratio = balcao / reference. balcao_rasa_only "
            f"(diagnostic, not in the ratios): the same questions sent straight to Balcão's Rasa "
            f"REST channel, the action still served by the hub, so balcao minus balcao_rasa_only "
            f"is what the hub adds around Rasa (widget, storage, delivery). cpu_ms_per_turn: user + "
            f"system CPU of each server process (and its children) from /proc/PID/stat, read before and "
            f"after every round, per turn tried; each server's idle CPU per second (measured while "
            f"another system's turns run) is taken out; hub_desk = the hub's CPU in a balcao turn minus "
            f"its CPU in a balcao_rasa_only turn (where it only serves the action); not the benchmark "
            f"client's own CPU."
        ),
    }
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")

    heads = ("conc.", "p50 ms", "p95 ms", "n", "turns/s", "errors", "p50 1st", "p50 rest")
    print(f"\n{'':<17}" + "".join(f"{h:>9}" for h in heads))
    for name in ("balcao", "reference", "balcao_rasa_only"):
        for level, s in output[name].items():
            cells = (
                level,
                s["p50_ms"],
                s["p95_ms"],
                s["n"],
                s["turns_per_s"],
                s["errors"],
                s["p50_first_turn_ms"],
                s["p50_later_turns_ms"],
            )
            print(f"{name:<17}" + "".join(f"{c!s:>9}" for c in cells))
    for level in output["ratio_p50"]:
        print(
            f"ratio balcao/reference at concurrency {level}: p50 {output['ratio_p50'][level]}×, p95 {output['ratio_p95'][level]}×"
        )
    for level, cpu in output["cpu_ms_per_turn"].items():
        print(f"CPU ms per FAQ turn at concurrency {level}: balcao {cpu['balcao']}, reference {cpu['reference']}")
    print(f"\nwritten to {results_file} in {output['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
