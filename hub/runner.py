"""``make run``: the hub and the Rasa server side by side, stopped together on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

from hub.operations import CommandError, ensure_demo_admin
from hub.rasa_model import ensure_model, server_command, server_env
from hub.secret_store import ensure_secrets
from hub.settings import ROOT, Settings

RASA_START_TIMEOUT_S = 300
# The first start encodes every article (var/index is then reused): minutes on a busy 2-core machine.
HUB_START_TIMEOUT_S = 900


def _wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
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


def listening(host: str, port: int) -> bool:
    """Whether something already accepts connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def rasa_port(settings: Settings) -> int:
    """The port the Rasa server listens on (loopback only): the one of ``BALCAO_RASA_URL``."""
    return urlsplit(settings.rasa_url).port or 5005


def _check_rasa_port(port: int) -> None:
    """Refuse to start when the Rasa port is taken."""
    # A Rasa server left over on the port would answer our readiness checks while ours fails to bind.
    if listening("127.0.0.1", port):
        raise CommandError(
            f"port {port} is in use (a Rasa server still running?): stop it, or set BALCAO_RASA_URL to another port"
        )


def hub_server(settings: Settings, app: FastAPI | None = None, *, log_level: str = "warning") -> uvicorn.Server:
    """The hub's HTTP server (not started): ``app`` or a new hub, on ``settings``' host and port.

    Idle keep-alive connections last ``BALCAO_KEEP_ALIVE_S``, longer than its clients keep them
    (uvicorn's 5 s default equals httpx's and browsers' reuse window, so a reused connection could
    be closed under a request)."""
    if app is None:
        from hub.app import create_app

        app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=False,  # BALCAO_TRUSTED_PROXIES decides whose X-Forwarded-For to believe
        timeout_keep_alive=int(settings.keep_alive_s),
    )
    return uvicorn.Server(config)


def _start_hub(settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve the hub in a thread and wait until it listens; ``CommandError`` when it cannot."""
    server = hub_server(settings)
    # Run in a thread, uvicorn leaves the signals alone (it only captures them in the main thread):
    # Ctrl-C reaches our handlers below, which stop Rasa and then the hub.
    thread = threading.Thread(target=server.run, daemon=True)
    print("starting the hub (the first start encodes the knowledge base: a few minutes)…", flush=True)
    thread.start()
    # uvicorn ends its thread (after logging why) when it cannot bind the port.
    _wait_until(lambda: server.started or not thread.is_alive(), HUB_START_TIMEOUT_S, "the hub")
    if not server.started:
        raise CommandError(
            f"the hub could not listen on {settings.host}:{settings.port} (see above): free it, or set BALCAO_PORT"
        )
    return server, thread


def _start_rasa(settings: Settings, model: Path, port: int, hub_url: str) -> subprocess.Popen:
    """Start the Rasa server (its actions call the hub back); it is not ready yet."""
    env = server_env(
        actions_url=f"{hub_url}/actions/webhook",
        actions_token=settings.actions_token,
        tracker_db=ROOT / "var" / "rasa-tracker.db",
    )
    return subprocess.Popen(server_command(model, port=port, token=settings.rasa_token), cwd=ROOT, env=env)


def page_urls(base: str) -> str:
    """The lines that say where each of the desk's pages is (``make run`` and ``make run-scaled``)."""
    return (
        f"  widget demo page : {base}/\n"
        f"  agent console    : {base}/console\n"
        f"  dashboard        : {base}/dashboard\n"
        f"  knowledge base   : {base}/kb\n"
        f"  admin pages      : {base}/admin/teams  {base}/admin/people  {base}/admin/settings\n"
    )


def _print_urls(settings: Settings, hub_url: str, admin: tuple[str, str] | None) -> None:
    """Where each page is, and the demo admin's one-time password when one was just created."""
    base = settings.public_url or hub_url
    print(
        f"\nBalcão is running:\n{page_urls(base)}  API docs         : {base}/docs\n  Rasa (loopback)  : {settings.rasa_url}\n",
        flush=True,
    )
    if admin:
        print(f"  demo admin       : {admin[0]}  one-time password: {admin[1]}\n", flush=True)
    print("Ctrl-C stops everything.", flush=True)


def _serve_until_stopped(
    settings: Settings, rasa: subprocess.Popen, stop: dict[str, bool], hub_url: str, admin: tuple[str, str] | None
) -> int:
    """Wait for Rasa to be ready, then until Ctrl-C (0) or until Rasa fails or stops on its own (1)."""
    print("starting the Rasa server (about 30 s)…", flush=True)
    deadline = time.monotonic() + RASA_START_TIMEOUT_S
    while not _rasa_ready(settings.rasa_url, settings.rasa_token):
        if stop["now"]:
            return 0
        if rasa.poll() is not None or time.monotonic() > deadline:
            print("the Rasa server did not start; see its output above", file=sys.stderr)
            return 1
        time.sleep(1)
    _print_urls(settings, hub_url, admin)
    while not stop["now"] and rasa.poll() is None:
        time.sleep(0.5)
    if not stop["now"]:
        print(f"the Rasa server stopped on its own (exit {rasa.returncode}); see its output above", file=sys.stderr)
        return 1
    return 0


def _stop_all(rasa: subprocess.Popen, server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop Rasa (politely, then not), then the hub."""
    print("stopping…", flush=True)
    if rasa.poll() is None:
        rasa.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            rasa.wait(15)
        if rasa.poll() is None:
            rasa.kill()
            rasa.wait()
    server.should_exit = True
    thread.join(15)


def run_all(settings: Settings) -> int:
    """Train if needed, start the hub then Rasa, print the URLs, and stop both on Ctrl-C.

    Returns 0 when stopped by Ctrl-C (or SIGTERM), 1 when the Rasa server did not start or stopped
    on its own; raises ``CommandError`` when a port is taken or the hub does not start.
    """
    port = rasa_port(settings)
    _check_rasa_port(port)
    ensure_secrets(settings)  # Rasa is given the same (possibly generated) tokens as the hub
    model = ensure_model()
    admin = asyncio.run(ensure_demo_admin(settings))
    server, thread = _start_hub(settings)
    hub_url = f"http://{settings.host}:{settings.port}"
    rasa = _start_rasa(settings, model, port, hub_url)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        return _serve_until_stopped(settings, rasa, stop, hub_url, admin)
    finally:
        _stop_all(rasa, server, thread)
