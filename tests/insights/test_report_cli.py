"""`balcao report` prints the KPIs of a period as JSON, or one table as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from hub.db import make_engine, make_sessionmaker, run_migrations
from hub.settings import ROOT
from insights.summaries import note_appended
from tests.insights.test_kpis import monday_morning


def balcao(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BALCAO_DATABASE_URL": database_url, "BALCAO_REPORT_TIMEZONE": "America/Sao_Paulo"}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_report_as_json_and_csv(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    run_migrations(url)

    async def fill() -> None:
        engine = make_engine(url)
        async with make_sessionmaker(engine, listeners=[note_appended])() as session, session.begin():
            await monday_morning().save(session)
        await engine.dispose()

    asyncio.run(fill())
    result = balcao(url, "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["totals"]["conversations"], report["nps"]["answered"], report["nps"]["score"]) == (6, 3, 0.0)

    teams = balcao(url, "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv", "--table", "teams")
    rows = {r["team"]: r for r in csv.DictReader(io.StringIO(teams.stdout))}
    assert (rows["financeiro"]["conversations"], rows["financeiro"]["abandoned"]) == ("2", "1")

    surveys = balcao(
        url,
        "report",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--format",
        "csv",
        "--table",
        "surveys",
        "--channel",
        "widget",
    )
    answers = list(csv.DictReader(io.StringIO(surveys.stdout)))
    assert sorted(a["score"] for a in answers) == ["", "10", "3", "8"]  # "" is the survey nobody answered

    backwards = balcao(url, "report", "--from", "2026-03-31", "--to", "2026-03-01")
    assert backwards.returncode != 0 and "before it starts" in backwards.stderr
