"""Channel benchmark: inbound-to-outbound time of a FAQ turn on each channel, beside the bare Rasa
REST turn, in one run.

* **widget** — a customer's question over the widget's WebSocket until the hub sends the last reply
  of the FAQ answer ("did that solve it?", the message offering the ``/affirm`` button).
* **telegram** — an update posted to the hub's webhook (secret token checked, python-telegram-bot
  parsing) until the fake Bot API receives that last reply through the outbox (``sendMessage`` with
  its inline keyboard).
* **whatsapp** — a signed Twilio form posted to the hub's webhook until the fake Twilio API receives
  the last reply (with its numbered options) through the outbox.
* **rasa** — the bare turn: ``POST /webhooks/rest/webhook`` on the same Rasa server, its custom
  action served by the same hub (knowledge-base search included), no hub in front.

The hub waits up to 60 s for Rasa here (production: 3 s, twice, then a person takes over), so
that at 100 customers every turn is still a FAQ answer. Each at 10 and 100 simultaneous customers (each asks one question after another, and is replaced
by a new customer every few questions). ``ratio_p95_vs_rasa`` = channel p95 / rasa p95 at the same
concurrency (target ≤ 1.5 at 100 customers).

Run ``.venv/bin/python bench/channels.py``; it writes ``bench/results/channels.json``. It starts its
own hub (port 8370, SQLite in a temporary directory), Rasa (5370) and the two fake platform APIs,
all on 127.0.0.1, and stops them at the end, also on errors. It reuses the process handling and
the turn loop of ``bench/turn_latency.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package

from tests.channel_fakes import FakeTelegram, FakeTwilio

from services import Services, http_ok
from turn_latency import (
    TURN_TIMEOUT_S,
    Conversation,
    RestConversation,
    TurnFailed,
    WidgetConversation,
    is_faq_answer_end,
    run_phase,
    start_hub_and_rasa,
)

HOST = "127.0.0.1"
HUB_PORT = 8370
RASA_PORT = 5370
HUB = f"http://{HOST}:{HUB_PORT}"
RESULTS = ROOT / "bench" / "results" / "channels.json"
CACHE_DIR = ROOT / "bench" / ".cache"
TELEGRAM_TOKEN = "424242:bench-token"
TELEGRAM_SECRET = secrets.token_urlsafe(24)
TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM = "AC" + "b" * 32, secrets.token_urlsafe(16), "whatsapp:+14155238886"
LEVELS = {10: 100, 100: 400}  # concurrency: measured turns
QUICK_LEVELS = {10: 20, 100: 100}
WARMUP_TURNS = 5


class Arrivals:
    """Turn ends seen by the fakes (in their server thread), handed to the waiting customers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[str, asyncio.Future] = {}
        self.lock = threading.Lock()

    def expect(self, key: str) -> asyncio.Future:
        future = self.loop.create_future()
        with self.lock:
            self.waiting[key] = future
        return future

    def arrived(self, key: str) -> None:
        at = time.perf_counter()
        with self.lock:
            future = self.waiting.pop(key, None)
        if future is not None:
            self.loop.call_soon_threadsafe(lambda: future.done() or future.set_result(at))


class ObservedTelegram(FakeTelegram):
    """The fake Bot API, telling ``arrivals`` when a chat receives a message with a keyboard."""

    arrivals: Arrivals | None = None

    async def _method(self, request: Request) -> JSONResponse:
        response = await super()._method(request)
        if request.path_params["method"] == "sendMessage" and self.arrivals is not None:
            with self.lock:
                last = self.sent[-1] if self.sent else None
            if last and last.get("reply_markup"):
                self.arrivals.arrived(f"tg:{last['chat']['id']}")
        return response


class ObservedTwilio(FakeTwilio):
    """The fake Twilio API, telling ``arrivals`` when a number receives the numbered options."""

    arrivals: Arrivals | None = None

    async def _create(self, request: Request) -> JSONResponse:
        response = await super()._create(request)
        if self.arrivals is not None and response.status_code == 201:
            body = json.loads(response.body)
            if "\n1. " in (body.get("body") or ""):
                self.arrivals.arrived(f"wa:{body['to']}")
        return response


_ids = itertools.count(1)


class TelegramTurns:
    """A Telegram customer: updates posted to the webhook, replies seen by the fake Bot API."""

    def __init__(self, http: httpx.AsyncClient, arrivals: Arrivals) -> None:
        self.http, self.arrivals = http, arrivals
        self.user_id = 9_000_000 + next(_ids)

    async def ask(self, text: str) -> float:
        user = {"id": self.user_id, "is_bot": False, "first_name": "Bench", "language_code": "pt-br"}
        update = {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": int(time.time()),
                "text": text,
                "chat": {"id": self.user_id, "type": "private"},
                "from": user,
            },
        }
        arrived = self.arrivals.expect(f"tg:{self.user_id}")
        started = time.perf_counter()
        response = await self.http.post(
            f"{HUB}/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        )
        if response.status_code != 200:
            raise TurnFailed(f"webhook answered {response.status_code}")
        try:
            return await asyncio.wait_for(arrived, TURN_TIMEOUT_S) - started
        except TimeoutError as exc:
            raise TurnFailed("timeout") from exc

    async def close(self) -> None:
        pass


class WhatsAppTurns:
    """A WhatsApp customer: signed Twilio forms posted to the webhook, replies seen by the fake."""

    validator = RequestValidator(TWILIO_TOKEN)

    def __init__(self, http: httpx.AsyncClient, arrivals: Arrivals) -> None:
        self.http, self.arrivals = http, arrivals
        self.number = f"+55119{next(_ids):08d}"

    async def ask(self, text: str) -> float:
        form = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": TWILIO_SID,
            "From": f"whatsapp:{self.number}",
            "To": TWILIO_FROM,
            "Body": text,
            "NumMedia": "0",
            "ProfileName": "Bench",
        }
        url = f"{HUB}/webhooks/whatsapp"
        arrived = self.arrivals.expect(f"wa:whatsapp:{self.number}")
        started = time.perf_counter()
        response = await self.http.post(
            url, data=form, headers={"X-Twilio-Signature": self.validator.compute_signature(url, form)}
        )
        if response.status_code != 200:
            raise TurnFailed(f"webhook answered {response.status_code}")
        try:
            return await asyncio.wait_for(arrived, TURN_TIMEOUT_S) - started
        except TimeoutError as exc:
            raise TurnFailed("timeout") from exc

    async def close(self) -> None:
        pass


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def start_desk(services: Services, telegram_url: str, twilio_url: str) -> None:
    """The hub (``balcao serve``) with Telegram and WhatsApp pointed at the fakes, and its Rasa."""
    for port in (HUB_PORT, RASA_PORT):
        if not port_is_free(port):
            raise RuntimeError(f"port {port} is taken (another benchmark?): stop it or change HUB_PORT/RASA_PORT")
    hub, rasa, token = start_hub_and_rasa(
        services,
        services.logs,
        hub_port=HUB_PORT,
        rasa_port=RASA_PORT,
        rasa_name="rasa",
        # Production waits 3 s (twice) for Rasa and then hands the chat to a person; at 100 customers
        # one Rasa process queues turns far past that, so every turn would end in the queue. Wait
        # for Rasa here, so each turn is a FAQ answer and the channels compare with the bare turn.
        BALCAO_RASA_TIMEOUT_S="60",
        BALCAO_RASA_ATTEMPTS="1",
        BALCAO_BOT_WAIT_S="60",
        BALCAO_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        BALCAO_TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        BALCAO_TELEGRAM_API_URL=f"{telegram_url}/bot",
        BALCAO_TWILIO_ACCOUNT_SID=TWILIO_SID,
        BALCAO_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        BALCAO_TWILIO_WHATSAPP_FROM=TWILIO_FROM,
        BALCAO_TWILIO_API_URL=twilio_url,
    )
    services.ready(hub, lambda: http_ok(f"{HUB}/healthz"))
    services.ready(rasa, lambda: http_ok(f"http://{HOST}:{RASA_PORT}/status", {"token": token}, key="model_file"))
    services.wait_all()


async def measure(levels: dict[int, int], telegram: ObservedTelegram, twilio: ObservedTwilio) -> dict[str, dict[str, dict]]:
    arrivals = Arrivals(asyncio.get_running_loop())
    telegram.arrivals = twilio.arrivals = arrivals
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits, trust_env=False) as http:

        async def rasa() -> Conversation:
            return RestConversation(http, RASA_PORT, is_faq_answer_end, {"language": "pt-BR", "channel": "bench"})

        async def tg() -> Conversation:
            return TelegramTurns(http, arrivals)

        async def wa() -> Conversation:
            return WhatsAppTurns(http, arrivals)

        systems: dict[str, Callable[[], Awaitable[Conversation]]] = {
            "rasa": rasa,
            "widget": lambda: WidgetConversation.open(http, hub_port=HUB_PORT),
            "telegram": tg,
            "whatsapp": wa,
        }
        for name, new in systems.items():
            warm = await run_phase(new, 1, WARMUP_TURNS)
            if warm.errors:
                raise RuntimeError(f"{name}: warm-up turns failed: {warm.errors[:3]}")
        results: dict[str, dict[str, dict]] = {name: {} for name in systems}
        for concurrency, turns in levels.items():
            for name, new in systems.items():
                print(f"{name}: {turns} turns at {concurrency} customers…", file=sys.stderr, flush=True)
                summary = (await run_phase(new, concurrency, turns)).summary()
                results[name][str(concurrency)] = summary
                print(
                    f"  p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, n {summary['n']}, errors {summary['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few turns, written to bench/.cache/channels.quick.json")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and databases")
    args = parser.parse_args(argv)
    levels = QUICK_LEVELS if args.quick else LEVELS
    out_file = CACHE_DIR / "channels.quick.json" if args.quick else RESULTS
    load_before = os.getloadavg()
    with Services.run("balcao-bench-channels-", keep_logs=args.keep_logs) as services:
        telegram = ObservedTelegram(TELEGRAM_TOKEN).start()
        twilio = ObservedTwilio(TWILIO_SID, TWILIO_TOKEN).start()
        try:
            start_desk(services, telegram.url, twilio.url)
            results = asyncio.run(measure(levels, telegram, twilio))
        finally:
            telegram.stop()
            twilio.stop()
    report: dict = {
        "benchmark": "channels",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": "inbound to the last outbound reply of a FAQ turn, per channel (fakes for Telegram/WhatsApp), "
        "beside the bare Rasa REST turn on the same server",
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before]},
        "rasa": {
            "p50_ms": {k: v["p50_ms"] for k, v in results["rasa"].items()},
            "p95_ms": {k: v["p95_ms"] for k, v in results["rasa"].items()},
            "detail": results["rasa"],
        },
    }
    for channel in ("widget", "telegram", "whatsapp"):
        report[channel] = {
            "p50_ms": {k: v["p50_ms"] for k, v in results[channel].items()},
            "p95_ms": {k: v["p95_ms"] for k, v in results[channel].items()},
            "ratio_p95_vs_rasa": {
                k: round(v["p95_ms"] / results["rasa"][k]["p95_ms"], 2) if v["p95_ms"] and results["rasa"][k]["p95_ms"] else None
                for k, v in results[channel].items()
            },
            "detail": results[channel],
        }
    report["target"] = "ratio_p95_vs_rasa <= 1.5 at 100 customers"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({c: report[c]["ratio_p95_vs_rasa"] for c in ("widget", "telegram", "whatsapp")}))
    print(f"written to {out_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
