"""``balcao run --replicas N --rasa M`` / ``make run-scaled``: the production topology on one machine.

N hub processes and M Rasa servers behind HAProxy, on the machine's PostgreSQL and Redis:

    browser, Telegram, Twilio ──> HAProxy :BALCAO_PORT ──> hub 1 … hub N   (:port+1 … :port+N)
                                                             │  ↑ actions
    hubs ──> HAProxy :BALCAO_RASA_URL's port ──> Rasa 1 … Rasa M (:rasa port+1 …)
    every hub: PostgreSQL (BALCAO_DATABASE_URL) + Redis (BALCAO_REDIS_URL)
    every Rasa: trackers in PostgreSQL (<database>_rasa), its lock store in Redis

The HAProxy configuration and the Rasa endpoints are written under ``var/scaled/``, each process's
output to ``var/scaled/logs/``. Ctrl-C (or SIGTERM) stops every process this started; they are also
told to stop if this process dies without cleaning up (the kernel's parent-death signal).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub.operations import CommandError, ensure_demo_admin
from hub.rasa_model import ensure_model, server_command, server_env
from hub.runner import listening, page_urls, rasa_port
from hub.scaled_config import haproxy_config, rasa_endpoints
from hub.secret_store import ensure_secrets
from hub.settings import ROOT, Settings

START_TIMEOUT_S = 900  # the first hub encodes the knowledge base; Rasa servers load their models
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Topology:
    """Where everything listens (all on loopback except HAProxy's public side, on BALCAO_HOST)."""

    host: str
    public_port: int
    hub_ports: list[int]
    rasa_lb_port: int
    rasa_ports: list[int]
    folder: Path

    @classmethod
    def of(cls, settings: Settings, replicas: int, rasa_servers: int, folder: Path) -> Topology:
        """Hubs on the ports after BALCAO_PORT, Rasa servers on the ports after BALCAO_RASA_URL's."""
        lb = rasa_port(settings)
        return cls(
            settings.host,
            settings.port,
            [settings.port + 1 + n for n in range(replicas)],
            lb,
            [lb + 1 + n for n in range(rasa_servers)],
            folder,
        )

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.public_port}"

    def check_ports_free(self) -> None:
        """``CommandError`` naming the first port something already listens on."""
        for port in [self.public_port, *self.hub_ports, self.rasa_lb_port, *self.rasa_ports]:
            if listening("127.0.0.1", port):
                raise CommandError(
                    f"port {port} is in use: the scaled setup takes BALCAO_PORT and the {len(self.hub_ports)} after it, "
                    f"and BALCAO_RASA_URL's port and the {len(self.rasa_ports)} after it; free them or change those settings"
                )


@dataclass
class Processes:
    """The processes started, in order; stopped in the reverse order."""

    logs: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    how: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)  # name → command, environment
    restarts: dict[str, list[float]] = field(default_factory=dict)  # name → when it was restarted (monotonic)

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start ``command`` in its own session, its output in ``logs/<name>.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this runner only; it stops them in order
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets a signal; nothing forked here has threads yet
            )
        self.started = [(n, p) for n, p in self.started if n != name] + [(name, process)]
        self.how[name] = (command, env)
        return process

    def restart_failed(self, *, keep: Sequence[str] = ("haproxy",), most: int = 5, per_s: float = 60) -> str | None:
        """Start again, as a supervisor would, each hub or Rasa server that stopped on its own (a
        replica killed by the kernel, a crash): HAProxy sends its traffic to the others meanwhile.
        Returns why to give up instead: a process in ``keep`` stopped, or one restarted ``most``
        times within ``per_s`` seconds (it cannot run; its log says why)."""
        now = time.monotonic()
        for name, process in list(self.started):
            if process.poll() is None:
                continue
            recent = [t for t in self.restarts.get(name, []) if now - t < per_s]
            if name in keep or len(recent) >= most:
                return self.failed()
            print(f"{name} stopped (exit {process.returncode}); starting it again (see {self.logs / name}.log)", flush=True)
            self.restarts[name] = [*recent, now]
            command, env = self.how[name]
            self.spawn(name, command, env)
        return None

    def failed(self) -> str | None:
        """The name of a process that exited on its own, with the end of its log."""
        for name, process in self.started:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                return f"{name} stopped (exit {process.returncode}); the end of {self.logs / name}.log:\n{tail}"
        return None

    def stop_all(self) -> None:
        """Ask each to stop (Rasa stops on SIGINT, the others on SIGTERM), then kill what is left."""
        for name, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if name.startswith("rasa") else signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, process in self.started:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the runner dies, even by SIGKILL (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def haproxy_executable() -> str:
    """HAProxy's path; installed from Debian's packages when missing and we may, else how to."""
    found = shutil.which("haproxy") or (Path("/usr/sbin/haproxy").exists() and "/usr/sbin/haproxy")
    if found:
        return str(found)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing HAProxy (apt-get install -y haproxy)…", flush=True)
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "haproxy"]):
            if subprocess.run(command, check=False).returncode != 0:
                break
        found = shutil.which("haproxy") or (Path("/usr/sbin/haproxy").exists() and "/usr/sbin/haproxy")
        if found:
            return str(found)
    raise CommandError("HAProxy is needed for several replicas: install it (sudo apt-get install -y haproxy) and run again")


def check_scaled_settings(settings: Settings) -> None:
    """Several replicas share PostgreSQL and Redis: refuse SQLite or a missing Redis, saying what to set."""
    if settings.is_sqlite:
        raise CommandError(
            "several replicas need PostgreSQL: set BALCAO_DATABASE_URL=postgresql+asyncpg://USER@HOST:5432/DB "
            "(e.g. `make run-scaled` uses postgresql+asyncpg://postgres@127.0.0.1:5432/balcao)"
        )
    if not settings.redis_url:
        raise CommandError("several replicas need Redis: set BALCAO_REDIS_URL=redis://HOST:6379/0")


def _hub_env(settings: Settings, top: Topology, port: int) -> dict[str, str]:
    """A hub replica's environment: the runner's settings, its own port, Rasa through HAProxy."""
    return {
        **os.environ,
        "BALCAO_HOST": "127.0.0.1",
        "BALCAO_PORT": str(port),
        "BALCAO_PUBLIC_URL": settings.public_url,  # HAProxy's (BALCAO_HOST:BALCAO_PORT unless set)
        "BALCAO_RASA_URL": f"http://127.0.0.1:{top.rasa_lb_port}",
        "BALCAO_TRUSTED_PROXIES": "127.0.0.1",  # HAProxy: its X-Forwarded-For names the customer
        "BALCAO_SECRETS_FILE": str(settings.secrets_file),
        "BALCAO_INDEX_DIR": str(settings.index_dir),
        # Rasa's actions reach any replica through HAProxy: a question searched early on the replica
        # that asked Rasa would mostly be searched again on another one (desk.early_search).
        "BALCAO_KB_EARLY_SEARCH": os.environ.get("BALCAO_KB_EARLY_SEARCH", "false"),
        "OMP_NUM_THREADS": "1",
    }


def _answers(url: str, params: dict[str, str] | None = None, key: str | None = None) -> bool:
    try:
        response = httpx.get(url, params=params, timeout=2, trust_env=False)
        return response.status_code == 200 and (key is None or bool(response.json().get(key)))
    except (httpx.HTTPError, ValueError):
        return False


def _wait(
    processes: Processes, checks: Sequence[tuple[str, str, dict[str, str] | None, str | None]], stop: dict[str, bool]
) -> None:
    """Until every (name, url, params, key) answers; ``CommandError`` when a process dies first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(checks)
    while pending and not stop["now"]:
        pending = [check for check in pending if not _answers(check[1], check[2], check[3])]
        problem = processes.failed()
        if problem:
            raise CommandError(problem)
        if time.monotonic() > deadline:
            raise CommandError(
                f"{', '.join(c[0] for c in pending)} did not start within {START_TIMEOUT_S} s (see var/scaled/logs)"
            )
        time.sleep(1)


def _start_hubs(settings: Settings, top: Topology, processes: Processes, stop: dict[str, bool]) -> None:
    """The first hub alone (it encodes the knowledge base into the shared cache), then the others."""
    command = [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main(['serve']))"]
    for group in (top.hub_ports[:1], top.hub_ports[1:]):
        for port in group:
            n = top.hub_ports.index(port) + 1
            processes.spawn(f"hub{n}", command, _hub_env(settings, top, port))
        _wait(processes, [(f"hub on :{p}", f"http://127.0.0.1:{p}/healthz", None, None) for p in group], stop)


def _start_rasa(settings: Settings, top: Topology, processes: Processes, model: Path) -> None:
    """Every Rasa server, sharing the trackers (PostgreSQL) and the lock store (Redis)."""
    endpoints = top.folder / "endpoints.yml"
    endpoints.write_text(rasa_endpoints(settings))
    endpoints.chmod(0o600)  # it holds the database password, if there is one
    actions_url = f"http://127.0.0.1:{top.public_port}/actions/webhook"  # any hub, through HAProxy
    for n, port in enumerate(top.rasa_ports, 1):
        env = server_env(actions_url=actions_url, actions_token=settings.actions_token, tracker_db=top.folder / "unused.db")
        command = server_command(model, port=port, token=settings.rasa_token, endpoints=endpoints)
        processes.spawn(f"rasa{n}", command, env)


def _print_urls(top: Topology, admin: tuple[str, str] | None) -> None:
    base = top.public_url
    hubs = ", ".join(f":{p}" for p in top.hub_ports)
    rasas = ", ".join(f":{p}" for p in top.rasa_ports)
    print(
        "\nBalcão is running (scaled):\n"
        f"{page_urls(base)}"
        f"  webhooks         : {base}/webhooks/telegram, {base}/webhooks/whatsapp\n"
        f"  HAProxy          : {base} → hubs on 127.0.0.1{hubs}\n"
        f"  Rasa (loopback)  : http://127.0.0.1:{top.rasa_lb_port} → Rasa servers on 127.0.0.1{rasas}\n"
        f"  configuration    : {top.folder} (logs in {top.folder / 'logs'})\n",
        flush=True,
    )
    if admin:
        print(f"  demo admin       : {admin[0]}  one-time password: {admin[1]}\n", flush=True)
    print("Ctrl-C stops everything.", flush=True)


def run_scaled(settings: Settings, *, replicas: int, rasa_servers: int) -> int:
    """Start HAProxy, the hubs and the Rasa servers; print the URLs; stop them all on Ctrl-C.

    Once running, a hub or Rasa server that stops on its own is started again (HAProxy serves from
    the others meanwhile). Returns 0 when stopped by Ctrl-C or SIGTERM, 1 when HAProxy stopped or a
    process kept stopping; raises
    ``CommandError`` when something cannot start (the message says what)."""
    import asyncio

    check_scaled_settings(settings)
    haproxy = haproxy_executable()
    top = Topology.of(settings, replicas, rasa_servers, settings.scaled_dir)
    top.check_ports_free()
    top.folder.mkdir(parents=True, exist_ok=True)
    ensure_secrets(settings)  # generated once into the secrets file every replica then reads
    model = ensure_model()  # trained first when the training data changed
    admin = asyncio.run(ensure_demo_admin(settings))
    config = top.folder / "haproxy.cfg"
    config.write_text(haproxy_config(top.host, top.public_port, top.hub_ports, top.rasa_lb_port, top.rasa_ports))
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    processes = Processes(top.folder / "logs")
    try:
        processes.spawn("haproxy", [haproxy, "-db", "-f", str(config)], dict(os.environ))
        print(f"starting {replicas} hub(s) and {rasa_servers} Rasa server(s) (logs in {processes.logs})…", flush=True)
        _start_hubs(settings, top, processes, stop)
        if stop["now"]:
            return 0
        _start_rasa(settings, top, processes, model)
        token = {"token": settings.rasa_token}
        rasa_checks = [(f"Rasa on :{p}", f"http://127.0.0.1:{p}/status", token, "model_file") for p in top.rasa_ports]
        _wait(processes, rasa_checks, stop)
        if stop["now"]:
            return 0
        _print_urls(top, admin)
        while not stop["now"]:
            problem = processes.restart_failed()
            if problem:
                print(problem, file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping…", flush=True)
        processes.stop_all()
