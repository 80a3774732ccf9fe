"""Local fakes of the Telegram Bot API and of Twilio's Messages API, each a real HTTP server in a
thread, that record what the hub sent and can answer with scripted failures (429, 5xx, 403).
Customers on those channels, speaking to the hub's real webhooks, are here too."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.support import RunningHub, free_port, wait_until

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Balcão", "username": "balcao_test_bot"}


class FakeServer:
    """A Starlette app served by uvicorn in a thread, with a lock around what it records."""

    def __init__(self, routes: list[Route]) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.delay_s = 0.0  # every answer waits this long (a slow platform; longer than the client waits: a timeout)
        self.server = uvicorn.Server(
            uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 30, type(self).__name__)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def fail_next(self, method: str, status: int, body: dict, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are answered with ``status`` and ``body``."""
        with self.lock:
            self.failures.setdefault(method, []).extend([(status, body)] * times)

    def _scripted_failure(self, method: str) -> tuple[int, dict] | None:
        with self.lock:
            queue = self.failures.get(method)
            return queue.pop(0) if queue else None


async def wait_for(check: Callable[[], object], what: str, timeout_s: float = 30) -> object:
    """Poll ``check`` until it returns something truthy (a bound on waiting, not an assertion of speed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not seen after {timeout_s} s")
        await asyncio.sleep(0.05)


class FakeTelegram(FakeServer):
    """The Bot API methods the hub uses: getMe, sendMessage, sendDocument and sendPhoto (multipart
    uploads), answerCallbackQuery, set/deleteWebhook, getFile and the file downloads behind it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict]] = []  # every call, failed ones too
        self.sent: list[dict] = []  # messages accepted
        self.files: dict[str, bytes] = {}  # file_id → content, for getFile
        self._ids = itertools.count(1000)
        super().__init__(
            [
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
            ]
        )

    def add_file(self, content: bytes) -> str:
        """A file a customer sent, as Telegram keeps it; returns its file_id."""
        file_id = "C" + uuid.uuid4().hex
        with self.lock:
            self.files[file_id] = content
        return file_id

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        with self.lock:
            content = self.files.get(request.path_params["path"].removeprefix("documents/"))
        return Response(content, media_type="application/octet-stream") if content is not None else Response(status_code=404)

    def _get_file(self, params: dict) -> JSONResponse:
        file_id = str(params.get("file_id"))
        with self.lock:
            content = self.files.get(file_id)
        if content is None:
            return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, status_code=400)
        if len(content) > 20_000_000:  # the Bot API's own download limit
            return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}, status_code=400)
        result = {
            "file_id": file_id,
            "file_unique_id": file_id[:16],
            "file_size": len(content),
            "file_path": f"documents/{file_id}",
        }
        return JSONResponse({"ok": True, "result": result})

    async def _method(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        if request.headers.get("content-type", "").startswith("application/json"):
            params = await request.json()
        else:
            params = {}
            for k, v in (await request.form()).multi_items():  # multipart: files are read here
                params[k] = {"filename": v.filename, "content": await v.read()} if hasattr(v, "filename") else v
        with self.lock:
            self.calls.append((method, params))
        if self.delay_s and method != "getMe":
            await asyncio.sleep(self.delay_s)
        failure = self._scripted_failure(method)
        if failure:
            return JSONResponse(failure[1], status_code=failure[0])
        if method == "getMe":
            return JSONResponse({"ok": True, "result": BOT_USER})
        if method == "sendMessage":
            markup = params.get("reply_markup")
            message = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
                "parse_mode": params.get("parse_mode"),
                "reply_markup": json.loads(markup) if isinstance(markup, str) else markup,
            }
            with self.lock:
                self.sent.append(message)
            return JSONResponse({"ok": True, "result": {k: v for k, v in message.items() if k != "parse_mode" and v is not None}})
        if method in ("sendDocument", "sendPhoto"):
            field_name = "document" if method == "sendDocument" else "photo"
            upload = params.get(field_name)
            if not isinstance(upload, dict):  # a file_id or URL would be a str: the hub uploads
                return JSONResponse(
                    {"ok": False, "error_code": 400, "description": f"Bad Request: no {field_name} uploaded"}, status_code=400
                )
            file_id = "F" + uuid.uuid4().hex
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
            }
            if params.get("caption"):
                result["caption"] = params["caption"]
            if field_name == "document":
                result["document"] = {
                    "file_id": file_id,
                    "file_unique_id": file_id[:16],
                    "file_name": upload["filename"],
                    "file_size": len(upload["content"]),
                }
            else:
                result["photo"] = [
                    {
                        "file_id": file_id,
                        "file_unique_id": file_id[:16],
                        "width": 1,
                        "height": 1,
                        "file_size": len(upload["content"]),
                    }
                ]
            with self.lock:
                self.sent.append(
                    {
                        **result,
                        "text": params.get("caption", ""),
                        "parse_mode": params.get("parse_mode"),
                        "file": {"kind": field_name, **upload},
                    }
                )
            return JSONResponse({"ok": True, "result": result})
        if method == "getFile":
            return self._get_file(params)
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "sendChatAction"):
            return JSONResponse({"ok": True, "result": True})
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status_code=404)

    def messages_to(self, chat_id: int) -> list[dict]:
        with self.lock:
            return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def calls_of(self, method: str) -> list[dict]:
        with self.lock:
            return [p for m, p in self.calls if m == method]

    def rate_limit_next(self, *, retry_after: int) -> None:
        self.fail_next(
            "sendMessage",
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def break_next(self, times: int = 1) -> None:
        self.fail_next("sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, times)

    def blocked_next(self) -> None:
        self.fail_next(
            "sendMessage", 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        )


class FakeTwilio(FakeServer):
    """Twilio's Messages API: POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, and the
    media customers sent (GET .../Messages/{message}/Media/{media}, Basic auth too)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls: list[dict] = []
        self.sent: list[dict] = []
        self.media: dict[str, tuple[bytes, str]] = {}  # media sid → content, type
        super().__init__(
            [
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._list, methods=["GET"]),
                Route("/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", self._media, methods=["GET"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == expected and request.path_params["sid"] == self.account_sid

    def add_media(self, content: bytes, mime: str) -> str:
        """A file a customer sent, as Twilio keeps it; returns its MediaUrl."""
        media_sid = "ME" + uuid.uuid4().hex
        with self.lock:
            self.media[media_sid] = (content, mime)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}/Media/{media_sid}"

    async def _media(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        with self.lock:
            found = self.media.get(request.path_params["media"])
        if found is None:
            return JSONResponse({"code": 20404, "message": "Not Found", "status": 404}, status_code=404)
        return Response(found[0], media_type=found[1])

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        form = await request.form()
        params = dict(form.items())
        media_urls = [str(v) for v in form.getlist("MediaUrl")]
        with self.lock:
            self.calls.append(params)
        failure = self._scripted_failure("messages")
        if failure:
            return JSONResponse(failure[1], status_code=failure[0])
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": params.get("To"),
            "from": params.get("From"),
            "body": params.get("Body"),
            "status": "queued",
            "num_media": "0",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "status_callback": params.get("StatusCallback"),
            "content_sid": params.get("ContentSid"),
            "media_url": media_urls,
            "date_created": email.utils.format_datetime(datetime.now(UTC).replace(microsecond=0)),
        }
        with self.lock:
            self.sent.append(message)
        if self.delay_s:  # taken, then slow to say so: the client may give up before the answer
            await asyncio.sleep(self.delay_s)
        response = {k: v for k, v in message.items() if k not in ("status_callback", "content_sid", "media_url")}
        response["num_media"] = str(len(media_urls))
        return JSONResponse(response, status_code=201)

    async def _list(self, request: Request) -> JSONResponse:
        """GET Messages.json?To=&From=: the account's messages, newest first, as one page."""
        if not self._authorized(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        to, sender = request.query_params.get("To"), request.query_params.get("From")
        size = int(request.query_params.get("PageSize", "50"))
        with self.lock:
            found = [m for m in reversed(self.sent) if (to is None or m["to"] == to) and (sender is None or m["from"] == sender)]
        messages = [
            {k: v for k, v in m.items() if k not in ("status_callback", "content_sid", "media_url")} for m in found[:size]
        ]
        return JSONResponse(
            {"messages": messages, "next_page_uri": None, "page": 0, "page_size": size, "uri": str(request.url.path)}
        )

    def messages_to(self, number: str) -> list[dict]:
        with self.lock:
            return [m for m in self.sent if m["to"] == f"whatsapp:{number}"]

    def break_next(self, status: int = 503, times: int = 1) -> None:
        self.fail_next(
            "messages",
            status,
            {
                "code": 20500 if status >= 500 else 20429,
                "message": "Service Unavailable" if status >= 500 else "Too Many Requests",
                "status": status,
            },
            times,
        )


async def unsent_rows(hub: RunningHub, channel: str, customer_id: str) -> int:
    """How many of the customer's outbox rows are still waiting to be sent."""
    from connectors import outbox
    from connectors.models import Delivery

    async def read() -> int:
        async with hub.app.state.desk.sessions() as session:
            rows = await outbox.customer_outbox(session, channel=channel, customer_id=customer_id)
            return sum(r.status in (Delivery.PENDING.value, Delivery.SENDING.value) for r in rows)

    return hub.call(read)


async def outbox_rows(hub: RunningHub, channel: str, customer_id: str) -> list:
    from connectors import outbox

    async def read() -> list:
        async with hub.app.state.desk.sessions() as session:
            return list(await outbox.customer_outbox(session, channel=channel, customer_id=customer_id))

    return hub.call(read)


_update_ids = itertools.count(int(time.time()) % 1_000_000 * 1000)
_user_ids = itertools.count(5_000_001)


@dataclass
class TelegramCustomer:
    """A person in Telegram: their client posts updates to the hub's webhook as Telegram would."""

    hub: RunningHub
    fake: FakeTelegram
    secret: str
    first_name: str = "Joana"
    language_code: str = "pt-br"
    user_id: int = field(default_factory=lambda: next(_user_ids))
    seen: int = 0

    @property
    def customer_id(self) -> str:
        return f"tg-{self.user_id}"

    def _user(self) -> dict:
        return {"id": self.user_id, "is_bot": False, "first_name": self.first_name, "language_code": self.language_code}

    def _chat(self) -> dict:
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}

    def message_update(self, text: str | None = None, **extra: object) -> dict:
        message = {"message_id": next(_update_ids), "date": int(time.time()), "chat": self._chat(), "from": self._user(), **extra}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": next(_update_ids), "message": message}

    async def post(self, update: dict, *, secret: str | None = None) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret if secret is None else secret}
        if secret == "":
            headers = {}
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(f"{self.hub.url}/webhooks/telegram", json=update, headers=headers)

    async def settle(self) -> list[dict]:
        """Wait until the hub has sent everything it had for this customer; return what is new."""
        deadline = time.monotonic() + 30
        while await unsent_rows(self.hub, "telegram", self.customer_id):
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            await asyncio.sleep(0.05)
        new = self.fake.messages_to(self.user_id)[self.seen :]
        self.seen += len(new)
        return new

    async def say(self, text: str) -> list[dict]:
        """Send a text; return the messages the customer received in reply."""
        response = await self.post(self.message_update(text))
        assert response.status_code == 200, response.text
        return await self.settle()

    async def send_update(self, update: dict) -> list[dict]:
        response = await self.post(update)
        assert response.status_code == 200, response.text
        return await self.settle()

    async def tap(self, title: str, received: list[dict]) -> list[dict]:
        """Tap the inline-keyboard button ``title`` of the latest message that offered it."""
        for message in reversed(received):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for key in row:
                    if key["text"] == title:
                        update = {
                            "update_id": next(_update_ids),
                            "callback_query": {
                                "id": uuid.uuid4().hex[:16],
                                "from": self._user(),
                                "chat_instance": "ci-1",
                                "data": key["callback_data"],
                                "message": {k: v for k, v in message.items() if k != "parse_mode" and v is not None},
                            },
                        }
                        return await self.send_update(update)
        raise AssertionError(f"no button {title!r} in {[m['text'] for m in received]}")


_numbers = itertools.count(5511900000001)


@dataclass
class WhatsAppCustomer:
    """A person on WhatsApp: Twilio posts their messages, signed, to the hub's webhook."""

    hub: RunningHub
    fake: FakeTwilio
    name: str = "Carla"
    number: str = field(default_factory=lambda: f"+{next(_numbers)}")
    seen: int = 0

    @property
    def customer_id(self) -> str:
        return f"wa-{self.number}"

    def form(self, body: str, **extra: str) -> dict[str, str]:
        return {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.fake.account_sid,
            "From": f"whatsapp:{self.number}",
            "To": self.hub.settings.twilio_whatsapp_from,
            "Body": body,
            "NumMedia": "0",
            "ProfileName": self.name,
            **extra,
        }

    def signature(self, path: str, form: dict[str, str]) -> str:
        url = self.hub.settings.public_url + path
        return RequestValidator(self.fake.auth_token).compute_signature(url, form)

    async def post(
        self, form: dict[str, str], *, path: str = "/webhooks/whatsapp", signature: str | None = None
    ) -> httpx.Response:
        signature = self.signature(path, form) if signature is None else signature
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(f"{self.hub.url}{path}", data=form, headers={"X-Twilio-Signature": signature})

    async def settle(self) -> list[dict]:
        deadline = time.monotonic() + 30
        while await unsent_rows(self.hub, "whatsapp", self.customer_id):
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            await asyncio.sleep(0.05)
        new = self.fake.messages_to(self.number)[self.seen :]
        self.seen += len(new)
        return new

    async def send_form(self, form: dict[str, str]) -> list[dict]:
        response = await self.post(form)
        assert response.status_code == 200, response.text
        return await self.settle()

    async def say(self, text: str) -> list[dict]:
        """Send a text; return the messages the customer received in reply."""
        return await self.send_form(self.form(text))
