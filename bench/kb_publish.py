"""Publish-to-answerable: how long after an editor publishes on one hub process another hub
process answers customers with the new article.

Two hub processes (``balcao serve``) share one database (a SQLite file, and PostgreSQL when it is
reachable at 127.0.0.1:5432). For each of ~20 new articles: the draft is created on hub A (not
timed), then the clock starts, the article is published through hub A's API, and hub B's
``/api/kb/search`` is asked every 20 ms until its top answer is the new article with the decision
"answer". Hub B learns of the publish from the change log it polls every
``BALCAO_KB_POLL_SECONDS`` (0.1 s); hub A applies it before the publish returns.

``measure_publish_to_answerable()`` returns the p50/p95/max in ms (bench/kb_scale.py stores it in
kb_scale.json as "publish_to_answerable_ms"); run as a script it measures SQLite and PostgreSQL and
writes ``bench/results/kb_publish.json``. Ports 8110 and 8111 on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BALCAO_BIN = Path(sys.executable).parent / "balcao"
HOST = "127.0.0.1"
PORTS = (8110, 8111)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
EDITOR = ("bench-editor@balcao.local", "bench-editor-password")
# Things a shop might be asked about that no starter article covers: one new article each.
TOPICS = [
    "aquário de vidro",
    "bicicleta ergométrica",
    "máquina de costura",
    "piano digital",
    "prancha de surfe",
    "barraca de camping",
    "forno de pizza",
    "cadeira de rodas",
    "telescópio",
    "mesa de sinuca",
    "kit de jardinagem",
    "bateria eletrônica",
    "esteira de corrida",
    "berço portátil",
    "churrasqueira a gás",
    "drone com câmera",
    "impressora 3D",
    "patinete elétrico",
    "sofá-cama",
    "chocadeira de ovos",
    "caiaque inflável",
    "gerador solar",
]


def _env(tmp: Path, database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
        "BALCAO_DATABASE_URL": database_url,
        "BALCAO_HOST": HOST,
        "BALCAO_PORT": str(port),
        "BALCAO_RASA_URL": "http://127.0.0.1:9",  # no Rasa: only the knowledge base is exercised
        "BALCAO_CALIBRATION_FILE": str(tmp / "calibration.json"),
        "BALCAO_INDEX_DIR": str(tmp / "index"),
        "BALCAO_INACTIVITY_CHECK_SECONDS": "3600",
    }


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"hub at {url} not ready after {timeout_s} s")


def measure_publish_to_answerable(*, database_url: str | None = None, publishes: int = 20) -> dict:
    """Publish ``publishes`` new articles on hub A and time until hub B answers with each.
    Uses a fresh SQLite file unless ``database_url`` (an empty database) is given."""
    publishes = min(publishes, len(TOPICS))
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="kb-publish-") as tmp_name:
        tmp = Path(tmp_name)
        shutil.copy(ROOT / "data" / "kb" / "calibration.json", tmp / "calibration.json")
        if (ROOT / "var" / "index").is_dir():
            shutil.copytree(ROOT / "var" / "index", tmp / "index")  # start-up without re-encoding the starter articles
        url = database_url or f"sqlite+aiosqlite:///{tmp / 'shared.db'}"
        env_a, env_b = (_env(tmp, url, port) for port in PORTS)
        prepared = subprocess.run([str(BALCAO_BIN), "prepare"], cwd=ROOT, env=env_a, capture_output=True, text=True, check=False)
        if prepared.returncode != 0:
            raise RuntimeError(f"balcao prepare failed:\n{prepared.stderr[-3000:]}")
        subprocess.run(
            [
                str(BALCAO_BIN),
                "user",
                "add",
                "--email",
                EDITOR[0],
                "--name",
                "Bench",
                "--role",
                "editor",
                "--password",
                EDITOR[1],
            ],
            cwd=ROOT,
            env=env_a,
            check=True,
            capture_output=True,
        )
        try:
            for env, port in ((env_a, PORTS[0]), (env_b, PORTS[1])):
                log = tmp / f"hub-{port}.log"
                processes.append(
                    subprocess.Popen(
                        [str(BALCAO_BIN), "serve"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
                    )
                )
                _wait_ready(processes[-1], f"http://{HOST}:{port}", log)
            a = httpx.Client(base_url=f"http://{HOST}:{PORTS[0]}", timeout=30)
            b = httpx.Client(base_url=f"http://{HOST}:{PORTS[1]}", timeout=30)
            login = a.post("/api/auth/login", json={"email": EDITOR[0], "password": EDITOR[1]})
            login.raise_for_status()
            a.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            b.post("/api/auth/login", json={"email": EDITOR[0], "password": EDITOR[1]}).raise_for_status()  # search is for staff
            timings: list[float] = []
            on_a: list[float] = []
            for n, topic in enumerate(TOPICS[:publishes]):
                article_id = f"bench-{n}-{secrets.token_hex(2)}"
                question = f"vocês vendem {topic}?"
                created = a.post(
                    "/api/kb/articles",
                    json={
                        "id": article_id,
                        "lang": "pt-BR",
                        "title": f"Vocês vendem {topic}?",
                        "team": "geral",
                        "body": f"Ainda não vendemos {topic}, mas avisamos por e-mail quando chegar.",
                        "questions": [question],
                    },
                )
                created.raise_for_status()
                start = time.perf_counter()
                a.post(f"/api/kb/articles/{article_id}/pt-BR/publish", json={}).raise_for_status()
                on_a.append((time.perf_counter() - start) * 1000)  # hub A answers with it from here
                while True:
                    got = b.get("/api/kb/search", params={"q": question, "lang": "pt-BR"}).json()
                    if got["decision"] == "answer" and got["hits"] and got["hits"][0]["id"] == article_id:
                        break
                    if time.perf_counter() - start > 30:
                        raise TimeoutError(f"hub B never answered with {article_id}")
                    # Each probe is a search (a query encoding) on hub B: probing faster would
                    # mostly slow down the very process being measured.
                    time.sleep(0.02)
                timings.append((time.perf_counter() - start) * 1000)
                time.sleep(0.1)  # publishes land at random points of hub B's poll cycle
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
    values = np.array(timings)
    p50, p95 = round(float(np.percentile(values, 50)), 1), round(float(np.percentile(values, 95)), 1)
    return {
        "publish_to_answerable_ms": {"p50": p50, "p95": p95},  # what bench/kb_scale.py stores in kb_scale.json
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "publishes": len(timings),
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": round(float(values.max()), 1),
        "publishing_hub_p50_ms": round(float(np.percentile(on_a, 50)), 1),  # the publish request itself
        "poll_seconds": float(os.environ.get("BALCAO_KB_POLL_SECONDS", "0.1")),
        "load_average_1min": round(os.getloadavg()[0], 2),  # 2 cores here, shared with other work
    }


def _postgres_database() -> tuple[str, str] | None:
    """A fresh PostgreSQL database (name, URL), or None when the server is not reachable."""
    import asyncio

    import asyncpg

    name = f"balcao_kb_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    try:
        asyncio.run(create())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kb_publish.json")
    args = parser.parse_args(argv)
    results = {"sqlite": measure_publish_to_answerable(publishes=args.publishes)}
    print(json.dumps(results["sqlite"]), file=sys.stderr)
    pg = _postgres_database()
    if pg is not None:
        try:
            results["postgresql"] = measure_publish_to_answerable(database_url=pg[1], publishes=args.publishes)
            print(json.dumps(results["postgresql"]), file=sys.stderr)
        finally:
            _drop(pg[0])
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
