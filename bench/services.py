"""The servers a benchmark starts (hub, Rasa, reference servers): started in parallel, awaited,
stopped newest first even when the benchmark fails, their logs kept on failure; and the CPU time
they spent, read from ``/proc`` (user + system time of a process and its children).

Every benchmark that runs servers does it the same way::

    with Services.run("balcao-bench-x-", keep_logs=args.keep_logs) as services:
        hub = services.start("hub", [...], cwd=ROOT, env=quiet_env(...))
        services.ready(hub, lambda: http_ok(f"http://127.0.0.1:{port}/healthz"))
        services.wait_all()
        results = asyncio.run(measure(...))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STOP_GRACE_S = 15.0
READY_TIMEOUT_S = 1800.0  # a shared, loaded machine can take minutes to start a hub and two Rasa servers
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat counts CPU time in these


@dataclass
class Service:
    """A server a benchmark started, with its log file and the signal that stops it cleanly."""

    name: str
    process: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    def tail(self, chars: int = 3000) -> str:
        """The end of its log (for an error message)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def cpu_ms(self) -> float:
        """CPU milliseconds (user + system) the server has used so far, its children included."""
        return process_tree_cpu_ms(self.process.pid)


@dataclass
class Services:
    """Starts servers and stops them all, newest first, even when the benchmark fails."""

    logs: Path
    started: list[Service] = field(default_factory=list)
    # What to wait for before measuring: servers start in parallel, then all are awaited.
    readiness: list[tuple[Service, Callable[[], bool]]] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def run(cls, prefix: str, *, keep_logs: bool = False) -> Iterator[Services]:
        """Servers whose logs and databases live in a new temporary folder (its name starts with
        ``prefix``); at the end every one is stopped, and the folder is removed unless the block
        failed or ``keep_logs``. ``kill <benchmark pid>`` stops the servers too."""
        # SIGTERM becomes an exception, so the `finally` below runs and no server is left behind.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        services = cls(Path(tempfile.mkdtemp(prefix=prefix)))
        failed = True
        try:
            yield services
            failed = False
        finally:
            services.stop_all()
            if failed or keep_logs:
                print(f"servers' logs kept in {services.logs}", file=sys.stderr)
            else:
                shutil.rmtree(services.logs, ignore_errors=True)

    def start(
        self, name: str, command: list[str], *, cwd: Path, env: dict[str, str], stop_signal: int = signal.SIGTERM
    ) -> Service:
        """Start ``command``, its output going to ``<logs>/<name>.log``."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        service = Service(name, process, log, stop_signal)
        self.started.append(service)
        return service

    def ready(self, service: Service, check: Callable[[], bool]) -> None:
        """Queue the check that tells when ``service`` is ready (``wait_all`` awaits them)."""
        self.readiness.append((service, check))

    def wait_all(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until every queued check passes (each within ``timeout_s``)."""
        for service, check in self.readiness:
            wait_ready(service, check, timeout_s)
        self.readiness.clear()

    def stop_all(self) -> None:
        """Stop every server, newest first; one that does not stop within the grace is killed."""
        # Signal every server first, then wait: the 15 s graces overlap instead of adding up.
        for service in reversed(self.started):
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    service.process.send_signal(service.stop_signal)
        deadline = time.monotonic() + STOP_GRACE_S
        for service in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(max(0.0, deadline - time.monotonic()))
            if service.process.poll() is None:
                print(f"  {service.name} did not stop within {STOP_GRACE_S:.0f} s: killing it", file=sys.stderr)
                service.process.kill()
                service.process.wait()
        self.started.clear()


def wait_ready(service: Service, check: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``check`` until it is true; fail early, with the log, if the server exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{service.tail()}")
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{service.name} not ready after {timeout_s:.0f} s:\n{service.tail()}")


def http_ok(url: str, params: dict | None = None, *, key: str | None = None) -> bool:
    """True when ``url`` answers 200 (and, if ``key`` is given, its JSON has a truthy ``key``)."""
    try:
        response = httpx.get(url, params=params, timeout=2, trust_env=False)
        return response.status_code == 200 and (key is None or bool(response.json().get(key)))
    except (httpx.HTTPError, ValueError):
        return False


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment of a started server: one thread per process, as the hub and Rasa run in
    production (two OpenMP threads on this 2-core box make things far slower), no telemetry."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its ")".
    return raw[raw.rindex(")") + 2 :].split()


def process_tree_cpu_ms(pid: int) -> float:
    """User + system CPU milliseconds of ``pid`` and of its live descendants (``/proc/PID/stat``
    utime + stime; a descendant that already exited and was waited for is in cutime + cstime)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # fields[1]: the parent's pid
    ticks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        fields = _stat_fields(current)
        if fields is None:
            continue
        # After the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime (fields 14-17 of proc(5)).
        ticks += sum(int(x) for x in fields[11:15])
        pending += children.get(current, [])
    return ticks * 1000 / CLOCK_TICKS
