"""The load benchmark's people: customers on the widget, Telegram and WhatsApp (the platforms are
``tests/channel_fakes.py``'s fakes), and agents at the console's HTTP API. ``bench/load.py`` runs
them; everything here talks to 127.0.0.1 only.

A customer follows one script (FAQ, clarify, handoff, NPS), writing about every ``think_s`` seconds;
every reply that reaches them is put in their inbox with its arrival time. A bot turn's latency is
the time from sending to the last reply that arrived before the customer wrote again (the whole
answer, as the customer saw it); the turn that asks for a person is timed to its first reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

from tests.channel_fakes import FakeTelegram, FakeTwilio

HOST = "127.0.0.1"
TELEGRAM_TOKEN = "434343:load-token"  # the fake platforms' credentials (the hub is given the same)
TWILIO_SID, TWILIO_FROM = "AC" + "c" * 32, "whatsapp:+14155238886"
AGENT_MARK = "[agente-bench]"  # in every agent reply: the customer's inbox tells them from the bot's
FAQ = (
    "qual o prazo de entrega?",
    "como rastrear meu pedido?",
    "esqueci minha senha",
    "posso parcelar no cartão de crédito?",
    "quanto tempo demora o estorno?",
    "como faço para trocar um produto?",
    "o frete é grátis?",
    "qual a garantia dos produtos?",
)
VAGUE = ("tenho uma dúvida sobre o meu pedido", "problema com pagamento", "preciso de ajuda com a minha conta")
SCRIPTS = (("faq", 0.40), ("nps", 0.25), ("clarify", 0.20), ("handoff", 0.15))
AGENT_WAIT_S = 180.0  # a customer in the queue waits this long for a person, then leaves
_ids = itertools.count(1)
T = TypeVar("T")


@dataclass
class Reply:
    at: float
    text: str
    agent: bool


@dataclass
class Stats:
    """What the customers and agents saw; ``window`` marks the turns that count for a step."""

    # (sent at, latency s, channel, script, judged at: when the customer looked, after thinking)
    turns: list[tuple[float, float, str, str, float]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=lambda: {"widget": 0, "telegram": 0, "whatsapp": 0})
    answered_error: dict[str, int] = field(default_factory=lambda: {"widget": 0, "telegram": 0, "whatsapp": 0})
    agent_replies_sent: int = 0
    agent_replies_seen: int = 0
    handoffs_unserved: int = 0
    scripts_done: int = 0

    def error(self, what: str) -> None:
        self.errors.append((time.monotonic(), what))


class Inboxes:
    """Replies the fake platforms received, per customer key, appended from their server thread."""

    def __init__(self) -> None:
        self.boxes: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()

    def open(self, key: str) -> list[Reply]:
        with self.lock:
            return self.boxes.setdefault(key, [])

    def close(self, key: str) -> None:
        with self.lock:
            self.boxes.pop(key, None)

    def add(self, key: str, text: str) -> None:
        reply = Reply(time.monotonic(), text, AGENT_MARK in text)
        with self.lock:
            box = self.boxes.get(key)
            if box is not None:
                box.append(reply)


class LoadTelegram(FakeTelegram):
    """The fake Bot API, filing every message sent into the chat's inbox."""

    inboxes: Inboxes | None = None

    async def _method(self, request: Request) -> JSONResponse:
        response = await super()._method(request)
        if request.path_params["method"] == "sendMessage" and self.inboxes is not None and response.status_code == 200:
            result = json.loads(response.body)["result"]
            self.inboxes.add(f"tg:{result['chat']['id']}", result.get("text") or "")
        return response


class LoadTwilio(FakeTwilio):
    """The fake Twilio API, filing every message sent into the number's inbox."""

    inboxes: Inboxes | None = None

    async def _create(self, request: Request) -> JSONResponse:
        response = await super()._create(request)
        if self.inboxes is not None and response.status_code == 201:
            body = json.loads(response.body)
            self.inboxes.add(f"wa:{body['to']}", body.get("body") or "")
        return response


@dataclass
class Platforms:
    """Where the channels' webhooks are and the secrets to call them with."""

    hub: str
    http: httpx.AsyncClient
    inboxes: Inboxes
    telegram_secret: str
    twilio_sid: str
    twilio_token: str
    twilio_from: str


class Customer:
    """One customer on one channel; ``inbox`` gets every message the desk sent them."""

    channel = ""

    def __init__(self, platforms: Platforms) -> None:
        self.p = platforms
        self.inbox: list[Reply] = []

    async def open(self) -> None: ...

    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def close(self) -> None: ...


class WidgetCustomer(Customer):
    """A page with the widget, as ``widget.js`` behaves: a message is kept until the desk acknowledges
    it; a socket cut under it (a proxy, a replica that stopped) is opened again with the same session,
    and what was not acknowledged is sent again with the same id (the desk stores it once)."""

    channel = "widget"
    ACK_WAIT_S = 120.0  # how long a leaving customer's last message may wait for its acknowledgement

    async def open(self) -> None:
        response = await self.p.http.post(f"{self.p.hub}/widget/session", json={})
        response.raise_for_status()
        self.token: str = response.json()["token"]
        self.pending: dict[str, str] = {}  # id → text, not acknowledged yet
        self.settled = asyncio.Event()  # set while nothing waits for an acknowledgement
        self.settled.set()
        self.leaving = False
        self.reconnects = 0
        self.ws: ClientConnection = await self._connect()
        self.reader = asyncio.create_task(self._read())

    async def _connect(self) -> ClientConnection:
        ws_url = self.p.hub.replace("http://", "ws://") + "/widget/ws?lang=pt-BR"
        return await connect(
            ws_url, subprotocols=["balcao.widget", f"balcao.token.{self.token}"], proxy=None, max_size=None, open_timeout=30
        )

    async def _read(self) -> None:
        delay = 0.5
        while not self.leaving:
            with contextlib.suppress(Exception):  # the socket closed under us: open it again below
                async for raw in self.ws:
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if kind == "history" and self.reconnects:  # stored (only the ack was lost), or sent again
                        for message in frame.get("messages", []):
                            self._settle(message.get("client_id"))
                        for message_id, text in list(self.pending.items()):
                            await self.ws.send(json.dumps({"type": "message", "text": text, "id": message_id}))
                    elif kind == "ack" or (kind == "error" and frame.get("code") != "unavailable"):
                        self._settle(frame.get("id"))  # "unavailable": kept, sent again after reconnecting
                    if kind == "message" and frame.get("sender") in ("bot", "system", "agent"):
                        self.inbox.append(Reply(time.monotonic(), frame.get("text") or "", frame.get("sender") == "agent"))
                    elif kind == "error":
                        self.inbox.append(Reply(time.monotonic(), f"error: {frame.get('code')}", False))
            if self.leaving:
                return
            await asyncio.sleep(delay)
            try:
                self.ws = await self._connect()
                self.reconnects += 1
                delay = 0.5
            except Exception:  # not reachable yet: try again, backing off as the widget does
                delay = min(delay * 2, 8)

    def _settle(self, message_id: str | None) -> None:
        self.pending.pop(message_id or "", None)
        if not self.pending:
            self.settled.set()

    async def send(self, text: str) -> None:
        message_id = uuid.uuid4().hex
        self.pending[message_id] = text
        self.settled.clear()
        with contextlib.suppress(Exception):  # a cut socket: the reader sends it again after reconnecting
            await self.ws.send(json.dumps({"type": "message", "text": text, "id": message_id}))

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):  # not acknowledged by then: counted as lost
            await asyncio.wait_for(self.settled.wait(), self.ACK_WAIT_S)
        self.leaving = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()


class TelegramCustomer(Customer):
    channel = "telegram"

    async def open(self) -> None:
        self.user_id = 7_000_000 + next(_ids)
        self.customer_id = f"tg-{self.user_id}"
        self.inbox = self.p.inboxes.open(f"tg:{self.user_id}")

    def payload(self, text: str) -> tuple[str, dict]:
        """(the id the desk stores the message under, the update Telegram would post)."""
        user = {"id": self.user_id, "is_bot": False, "first_name": "Load", "language_code": "pt-br"}
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
        return str(update["update_id"]), update

    async def post(self, payload: dict) -> int:
        """Post one update to the webhook; the HTTP status."""
        response = await self.p.http.post(
            f"{self.p.hub}/webhooks/telegram", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": self.p.telegram_secret}
        )
        return response.status_code

    async def send(self, text: str) -> None:
        status = await self.post(self.payload(text)[1])
        if status != 200:
            raise RuntimeError(f"telegram webhook answered {status}")

    async def close(self) -> None:
        self.p.inboxes.close(f"tg:{self.user_id}")


class WhatsAppCustomer(Customer):
    channel = "whatsapp"

    async def open(self) -> None:
        self.number = f"+55219{next(_ids):08d}"
        self.customer_id = f"wa-{self.number}"
        self.inbox = self.p.inboxes.open(f"wa:whatsapp:{self.number}")
        self.validator = RequestValidator(self.p.twilio_token)

    def payload(self, text: str) -> tuple[str, dict]:
        """(the id the desk stores the message under, the form Twilio would post)."""
        form = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.p.twilio_sid,
            "From": f"whatsapp:{self.number}",
            "To": self.p.twilio_from,
            "Body": text,
            "NumMedia": "0",
            "ProfileName": "Load",
        }
        return form["MessageSid"], form

    async def post(self, payload: dict) -> int:
        """Post one signed form to the webhook; the HTTP status."""
        url = f"{self.p.hub}/webhooks/whatsapp"
        response = await self.p.http.post(
            url, data=payload, headers={"X-Twilio-Signature": self.validator.compute_signature(url, payload)}
        )
        return response.status_code

    async def send(self, text: str) -> None:
        status = await self.post(self.payload(text)[1])
        if status != 200:
            raise RuntimeError(f"whatsapp webhook answered {status}")

    async def close(self) -> None:
        self.p.inboxes.close(f"wa:whatsapp:{self.number}")


CHANNELS: tuple[tuple[type[Customer], float], ...] = ((WidgetCustomer, 0.5), (TelegramCustomer, 0.25), (WhatsAppCustomer, 0.25))


def _pick(choices: tuple[tuple[T, float], ...], rng: random.Random) -> T:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


class Conversation:
    """One customer's script, with think time between their messages."""

    def __init__(self, customer: Customer, script: str, stats: Stats, rng: random.Random, think_s: float) -> None:
        self.c, self.script, self.stats, self.rng, self.think_s = customer, script, stats, rng, think_s

    async def send(self, text: str) -> None:
        """Send, counting it; a webhook that answered an error is counted apart (the hub may still
        have stored the message before failing: it is then neither lost nor a duplicate)."""
        try:
            await self.c.send(text)
        except Exception:
            self.stats.answered_error[self.c.channel] += 1
            raise
        self.stats.sent[self.c.channel] += 1

    def think(self) -> float:
        return self.think_s * self.rng.uniform(0.67, 1.33)

    async def turn(self, text: str, *, first_reply: bool = False) -> None:
        """Send, think, then time the turn by what arrived meanwhile (no reply at all: an error)."""
        seen = len(self.c.inbox)
        sent = time.monotonic()
        await self.send(text)
        await asyncio.sleep(self.think())
        replies = [r for r in self.c.inbox[seen:] if not r.agent]
        if not replies:
            self.stats.error(f"{self.c.channel}/{self.script}: no reply to {text!r} within the think time")
            return
        errors = [r.text for r in replies if r.text.startswith("error:")]
        if errors:
            self.stats.error(f"{self.c.channel}/{self.script}: {errors[0]}")
        at = replies[0].at if first_reply else replies[-1].at
        self.stats.turns.append((sent, at - sent, self.c.channel, self.script, time.monotonic()))

    async def wait_for(self, since: int, *, agent: bool) -> bool:
        """Until a message from an agent (or, ``agent=False``, from the bot) arrives after ``since``."""
        deadline = time.monotonic() + AGENT_WAIT_S
        while time.monotonic() < deadline:
            if any(r.agent == agent for r in self.c.inbox[since:]):
                return True
            await asyncio.sleep(1)
        return False

    async def run(self) -> None:
        try:
            await self._script()
        finally:  # a customer who gave up waiting saw the agent's replies too
            self.stats.agent_replies_seen += sum(1 for r in self.c.inbox if r.agent)

    async def _script(self) -> None:
        faq = lambda: self.rng.choice(FAQ)  # noqa: E731 - a one-line picker, read where it is used
        if self.script == "faq":
            await self.turn(faq())
            await self.turn(faq())
            await self.turn("sim")
        elif self.script == "nps":
            await self.turn(faq())
            await self.turn("obrigado, tchau")
            await self.turn(str(self.rng.choice((6, 8, 9, 10))))
        elif self.script == "clarify":
            await self.turn(self.rng.choice(VAGUE))
            await self.turn(faq())
        else:
            await self.turn(faq())
            seen = len(self.c.inbox)
            await self.turn("quero falar com uma pessoa", first_reply=True)
            if not await self.wait_for(seen, agent=True):
                self.stats.handoffs_unserved += 1
                return
            await asyncio.sleep(self.think() / 3)
            seen = len(self.c.inbox)
            await self.send("obrigado, era isso")  # to the agent: no bot turn
            if not await self.wait_for(seen, agent=False):  # the agent closes: the bot asks the survey
                self.stats.handoffs_unserved += 1
                return
            await asyncio.sleep(self.think() / 3)
            await self.turn("10")
        self.stats.scripts_done += 1


async def customer_loop(platforms: Platforms, stats: Stats, rng: random.Random, think_s: float, until: list[float]) -> None:
    """New conversations one after the other until ``until[0]`` (monotonic) has passed."""
    while time.monotonic() < until[0]:
        kind = _pick(CHANNELS, rng)
        customer = kind(platforms)
        try:
            await customer.open()
            await Conversation(customer, _pick(SCRIPTS, rng), stats, rng, think_s).run()
        except Exception as exc:  # counted, and the next conversation starts
            stats.error(f"{kind.channel}: {type(exc).__name__}: {exc}"[:200])
            await asyncio.sleep(think_s / 3)
        finally:
            with contextlib.suppress(Exception):  # never opened, or already gone
                await customer.close()


class Agent:
    """A person at the console: takes chats from the queue, answers, closes them after a while."""

    def __init__(self, hub: str, email: str, password: str, stats: Stats) -> None:
        self.hub, self.email, self.password, self.stats = hub, email, password, stats

    async def login(self) -> None:
        from core.http import hub_client

        self.http = hub_client(base_url=self.hub, timeout=60)
        r = await self.http.post("/api/auth/login", json={"email": self.email, "password": self.password})
        r.raise_for_status()
        self.http.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    async def serve(self, chat_id: str) -> None:
        r = await self.http.post(
            f"/api/agent/conversations/{chat_id}/messages", json={"text": f"{AGENT_MARK} olá, sou eu quem atende"}
        )
        if r.status_code == 201:
            self.stats.agent_replies_sent += 1
        else:
            self.stats.error(f"agent reply answered {r.status_code}")
        await asyncio.sleep(40)  # the customer answers; then the agent closes (the bot asks the NPS)
        r = await self.http.post(f"/api/agent/conversations/{chat_id}/close", json={"reason": "resolved"})
        if r.status_code not in (200, 409):
            self.stats.error(f"agent close answered {r.status_code}")

    async def run(self, until: list[float]) -> None:
        chats: set[asyncio.Task] = set()
        try:
            while time.monotonic() < until[0]:
                # The console learns of new chats from its WebSocket; a look every few seconds
                # stands in for that without 20 agents' polling dominating the hub's CPU.
                await asyncio.sleep(random.uniform(3, 6))
                if len(chats) >= 3:
                    continue
                try:
                    queue = (await self.http.get("/api/agent/queue")).json()
                except (httpx.HTTPError, ValueError) as exc:
                    self.stats.error(f"agent queue: {exc}")
                    continue
                for chat in queue[:1]:
                    r = await self.http.post(f"/api/agent/conversations/{chat['id']}/claim")
                    if r.status_code == 200:
                        task = asyncio.create_task(self.serve(chat["id"]))
                        chats.add(task)
                        task.add_done_callback(chats.discard)
                    elif r.status_code != 409:
                        self.stats.error(f"claim answered {r.status_code}")
            if chats:
                await asyncio.gather(*chats, return_exceptions=True)
        finally:
            await self.http.aclose()
