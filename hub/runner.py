"""``make run``: the hub and the Rasa server side by side, stopped together on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx
import uvicorn

from hub.rasa_model import ensure_model, server_command, server_env
from hub.secret_store import ensure_secrets
from hub.settings import ROOT, Settings

RASA_PORT = int(os.environ.get("BALCAO_RASA_PORT", "5005"))


def _wait_until(check, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not become ready within {timeout_s:.0f} s")


def _rasa_ready(url: str, token: str) -> bool:
    try:
        response = httpx.get(f"{url}/status", params={"token": token}, timeout=2)
        return response.status_code == 200 and bool(response.json().get("model_file"))
    except (httpx.HTTPError, ValueError):
        return False


def run_all(settings: Settings) -> int:
    """Train if needed, start the hub then Rasa, print the URLs, and stop both on Ctrl-C."""
    from hub.app import create_app
    from hub.cli import ensure_demo_admin

    ensure_secrets(settings)  # Rasa is given the same (possibly generated) tokens as the hub
    model = ensure_model()
    admin = asyncio.run(ensure_demo_admin(settings))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level="warning", proxy_headers=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign] - we stop it ourselves
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_until(lambda: server.started, 120, "the hub")
    hub_url = f"http://{settings.host}:{settings.port}"
    env = server_env(actions_url=f"{hub_url}/actions/webhook", actions_token=settings.actions_token, tracker_db=ROOT / "var" / "rasa-tracker.db")
    rasa = subprocess.Popen(server_command(model, port=RASA_PORT, token=settings.rasa_token), cwd=ROOT, env=env)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        print("starting the Rasa server (about 30 s)…", flush=True)
        deadline = time.monotonic() + 300
        while not _rasa_ready(settings.rasa_url, settings.rasa_token):
            if stop["now"] or rasa.poll() is not None or time.monotonic() > deadline:
                print("the Rasa server did not start; see its output above", file=sys.stderr)
                return 1
            time.sleep(1)
        base = settings.public_url or hub_url
        print(
            "\nBalcão is running:\n"
            f"  widget demo page : {base}/\n"
            f"  agent console    : {base}/console\n"
            f"  dashboard        : {base}/dashboard\n"
            f"  knowledge base   : {base}/kb\n"
            f"  API docs         : {base}/docs\n"
            f"  Rasa (loopback)  : {settings.rasa_url}\n",
            flush=True,
        )
        if admin:
            print(f"  demo admin       : {admin[0]}  one-time password: {admin[1]}\n", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        while not stop["now"] and rasa.poll() is None:
            time.sleep(0.5)
        return 0
    finally:
        print("stopping…", flush=True)
        if rasa.poll() is None:
            rasa.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                rasa.wait(15)
            if rasa.poll() is None:
                rasa.kill()
        server.should_exit = True
        thread.join(15)
