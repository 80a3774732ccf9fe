"""A webhook receiver on 127.0.0.1 for the tests: a real HTTP server (uvicorn, in a thread) that
records every request and answers each path with the statuses a test scripts (then 200)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import uvicorn

from tests.support import free_port, wait_until


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records requests by path; ``script[path]`` holds the statuses to answer first."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.script: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", interface="asgi3"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def app(self, scope: dict, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            self.received.append(Received(scope["path"], headers, body))
            queued = self.script[scope["path"]]
            status = queued.popleft() if queued else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"try later"})

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 30) -> list[Received]:
        """The first ``count`` requests to ``path``, waiting for them to arrive."""
        wait_until(lambda: len(self.at(path)) >= count, timeout_s, f"{count} webhook requests to {path}")
        return self.at(path)[:count]

    def start(self) -> Receiver:
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "webhook receiver")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def now() -> int:
    return int(time.time())
