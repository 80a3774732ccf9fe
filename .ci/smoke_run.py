"""Ask a running desk one question the way the website widget does, and check a knowledge-base answer comes back.

The same API as ``connectors/static/widget.js``: ``POST /widget/session`` for a customer token, then the
WebSocket ``/widget/ws?lang=…`` (the token in ``Sec-WebSocket-Protocol``): a ``history`` frame, then for each ``{"type": "message"}`` sent,
the bot's messages and an ``ack`` with the message's id. A knowledge-base answer starts with the
article's title in bold (``**Title**``); the fallback ("Não encontrei…") and escalations do not.

Used by ``.ci/run`` after ``make run`` printed its URLs. Exit 0 when the expected article answered,
1 otherwise (what came back is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

import frontmatter
import httpx
import websockets
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parents[1]


class SmokeFailed(Exception):
    """The desk did not answer as a working desk would (the message says what came back)."""


def article_title(lang: str, article_id: str) -> str:
    """The title of a starter article in ``data/kb/<lang>/<id>.md``."""
    return str(frontmatter.load(ROOT / "data" / "kb" / lang / f"{article_id}.md")["title"])


async def ask(url: str, question: str, lang: str, timeout_s: float) -> list[dict]:
    """Every frame of one widget turn (up to the hub's ack or error for the question)."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        response = await client.post(f"{url}/widget/session", json={})
        if response.status_code != 200:
            raise SmokeFailed(f"POST /widget/session answered {response.status_code}: {response.text[:300]}")
        token = response.json()["token"]
    ws_url = url.replace("http", "ws", 1) + f"/widget/ws?lang={lang}"
    # As widget.js does: the token rides in the WebSocket's subprotocols, never in the URL.
    protocols = [Subprotocol("balcao.widget"), Subprotocol(f"balcao.token.{token}")]
    async with websockets.connect(ws_url, open_timeout=timeout_s, subprotocols=protocols) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if first.get("type") != "history":
            raise SmokeFailed(f"the widget socket opened with {first} instead of the history")
        message_id = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "message", "text": question, "id": message_id}))
        frames: list[dict] = []
        while True:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
            except TimeoutError as exc:
                raise SmokeFailed(f"no ack within {timeout_s:.0f} s; frames so far: {frames}") from exc
            frames.append(frame)
            if frame.get("type") in ("ack", "error") and frame.get("id") == message_id:
                return frames


def check_answer(frames: list[dict], title: str) -> str:
    """The bot's answer when it is the article titled ``title``; ``SmokeFailed`` otherwise."""
    errors = [f for f in frames if f.get("type") == "error"]
    if errors:
        raise SmokeFailed(f"the hub refused the question: {errors}")
    texts = [f["text"] for f in frames if f.get("type") == "message" and f.get("sender") == "bot"]
    if not texts:
        raise SmokeFailed(f"the bot did not answer; frames: {frames}")
    if not texts[0].startswith(f"**{title}**"):
        raise SmokeFailed(f"expected the knowledge-base article {title!r}, the bot said: {texts}")
    return texts[0]


def main(argv: list[str] | None = None) -> int:
    """Ask, check, and say what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the hub's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--question",
        default="Como faço para acompanhar a entrega do meu pedido? Onde vejo o rastreio?",
        help="what the customer asks",
    )
    parser.add_argument("--lang", default="pt-BR", choices=["pt-BR", "pt-PT", "en"], help="the widget's language")
    parser.add_argument(
        "--article", default="rastrear-pedido", help="the starter article (data/kb/<lang>/<id>.md) that must answer"
    )
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for each step (default: 60)")
    args = parser.parse_args(argv)
    try:
        answer = check_answer(
            asyncio.run(ask(args.url.rstrip("/"), args.question, args.lang, args.timeout)), article_title(args.lang, args.article)
        )
    except (SmokeFailed, OSError, httpx.HTTPError, websockets.WebSocketException) as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke: {args.question!r} was answered from {args.article}: {answer.splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
