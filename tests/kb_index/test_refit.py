"""Thresholds refitted as the knowledge base grows: after enough article versions one hub refits
them from the articles alone and stores them; another hub on the same database decides by the
new thresholds without a restart, and a hub started later starts with them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.operations import add_user
from kb_index import Calibration
from kb_index.models import StoredCalibration
from tests.support import RunningHub, hub_settings, start_hub

EDITOR = ("rita@loja.test", "rita-password-1")
FILE = Calibration.load(Path(__file__).resolve().parents[2] / "data" / "kb" / "calibration.json", "bm25")
GROWTH = 3  # versions that make hub A refit


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Hub A refits after ``GROWTH`` versions; hub B never refits itself (it applies what is stored)."""
    tmp = tmp_path_factory.mktemp("refit")
    url = f"sqlite+aiosqlite:///{tmp / 'shared.db'}"
    common = {"cache_dir": index_cache, "database_url": url, "encoder": "bm25", "kb_refit_check_seconds": 0.2}
    a = start_hub(hub_settings(tmp, kb_refit_after_versions=GROWTH, **common))
    b = start_hub(hub_settings(tmp, **common))
    asyncio.run(add_user(a.settings, email=EDITOR[0], name="Rita", role="editor", teams=["geral"], password=EDITOR[1]))
    yield a, b
    a.stop()
    b.stop()


def _stored(hub: RunningHub) -> list[StoredCalibration]:
    async def read() -> list[StoredCalibration]:
        async with hub.app.state.read_sessions() as session:
            return list((await session.execute(select(StoredCalibration).order_by(StoredCalibration.id))).scalars())

    return hub.call(read)


async def _thresholds(client: httpx.AsyncClient) -> tuple[float, float]:
    r = (await client.get("/api/kb/try", params={"q": "como rastreio meu pedido?", "lang": "pt-BR"})).json()
    return r["t_answer"], r["t_clarify"]


async def _wait_for(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 120  # a refit on a loaded 2-core machine can take a while
    while not await check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.2)


async def test_a_grown_knowledge_base_is_refitted_and_every_hub_decides_by_it(hubs: tuple[RunningHub, RunningHub]) -> None:
    a, b = hubs
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as rita, httpx.AsyncClient(base_url=b.url, timeout=30) as on_b:
        r = await rita.post("/api/auth/login", json={"email": EDITOR[0], "password": EDITOR[1]})
        rita.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        await on_b.post("/api/auth/login", json={"email": EDITOR[0], "password": EDITOR[1]})
        # At first both decide by the calibration file, stored as the baseline.
        assert await _thresholds(rita) == await _thresholds(on_b) == (FILE.t_answer, FILE.t_clarify)
        assert [row.source for row in _stored(a)] == ["file"]

        for article, question in (
            ("rastrear-pedido", "cadê minha encomenda?"),
            ("pagamento-pix", "o pix tem desconto?"),
            ("cancelar-pedido", "desisti da compra, e agora?"),
        ):
            current = (await rita.get(f"/api/kb/articles/{article}/pt-BR")).json()
            edit = {k: current[k] for k in ("title", "body", "team", "tags")} | {
                "version": current["version"], "questions": [*current["questions"], question],
            }  # fmt: skip
            assert (await rita.put(f"/api/kb/articles/{article}/pt-BR", json=edit)).status_code == 200

        async def refitted() -> bool:
            return any(row.source == "kb_alone" for row in _stored(a))

        await _wait_for(refitted, "hub A's refit")
        newest = _stored(a)[-1]
        assert newest.source == "kb_alone"
        fitted = (newest.parameters["t_answer"], newest.parameters["t_clarify"])
        assert fitted != (FILE.t_answer, FILE.t_clarify)

        async def b_follows() -> bool:
            return await _thresholds(on_b) == fitted

        await _wait_for(b_follows, "hub B to decide by the refitted thresholds")
        assert await _thresholds(rita) == fitted

    # A hub started now decides by the stored calibration, not the file's.
    later = hub_settings(
        a.settings.media_dir.parent, cache_dir=a.settings.index_dir, database_url=a.settings.database_url, encoder="bm25"
    )
    c = await asyncio.to_thread(start_hub, later)
    try:
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as on_c:
            await on_c.post("/api/auth/login", json={"email": EDITOR[0], "password": EDITOR[1]})
            assert await _thresholds(on_c) == fitted
    finally:
        c.stop()
