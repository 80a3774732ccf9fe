"""A hub that cannot reach its PostgreSQL or its Redis at start refuses to start, naming which."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import ROOT

pytestmark = pytest.mark.postgres


def serve(tmp: Path, **variables: str) -> subprocess.CompletedProcess:
    """`balcao serve` with these settings, as a deployer would start one replica."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")}
    env.update(PYTHONPATH=str(ROOT), BALCAO_SECRETS_FILE=str(tmp / "secrets.json"), BALCAO_PORT="1", **variables)
    command = [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main(['serve']))"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_hub_without_its_database_or_redis_refuses_to_start_and_says_which(tmp_path: Path) -> None:
    both = serve(
        tmp_path,
        BALCAO_DATABASE_URL="postgresql+asyncpg://balcao:s3cret@127.0.0.1:1/desk",
        BALCAO_REDIS_URL="redis://127.0.0.1:2/0",
    )
    assert both.returncode == 1
    assert "cannot reach the database at 127.0.0.1:1/desk (BALCAO_DATABASE_URL)" in both.stderr
    assert "cannot reach Redis at 127.0.0.1:2/0 (BALCAO_REDIS_URL)" in both.stderr
    assert "s3cret" not in both.stderr  # the password stays out of the message


def test_a_hub_whose_database_answers_but_redis_does_not_names_only_redis(tmp_path: Path) -> None:
    only_redis = serve(
        tmp_path,
        BALCAO_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        BALCAO_REDIS_URL="redis://127.0.0.1:2/0",
    )
    assert only_redis.returncode == 1
    assert "cannot reach Redis at 127.0.0.1:2/0" in only_redis.stderr
    assert "database" not in only_redis.stderr


def test_several_replicas_on_sqlite_or_without_redis_are_refused_with_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")}
    env.update(PYTHONPATH=str(ROOT), BALCAO_SECRETS_FILE=str(tmp_path / "secrets.json"))
    command = [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main(['run', '--replicas', '2']))"]

    def run(**variables: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=ROOT, env={**env, **variables}, capture_output=True, text=True, timeout=120, check=False
        )

    on_sqlite = run()
    assert on_sqlite.returncode == 1
    assert "several replicas need PostgreSQL: set BALCAO_DATABASE_URL=" in on_sqlite.stderr
    without_redis = run(BALCAO_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    assert without_redis.returncode == 1
    assert "several replicas need Redis: set BALCAO_REDIS_URL=" in without_redis.stderr
