"""The files `balcao run --replicas N` writes: a configuration HAProxy accepts, and Rasa endpoints
on the hub's PostgreSQL server and Redis."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.scaled_config import haproxy_config, rasa_endpoints
from hub.settings import Settings


def test_haproxy_accepts_the_configuration_with_every_hub_and_rasa_server(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.skip("needs HAProxy")
    config = haproxy_config("127.0.0.1", 28000, [28001, 28002, 28003], 28010, [28011, 28012])
    (tmp_path / "haproxy.cfg").write_text(config)
    check = subprocess.run([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert "Warnings" not in check.stdout + check.stderr
    for server in ("127.0.0.1:28001", "127.0.0.1:28003", "127.0.0.1:28011", "127.0.0.1:28012"):
        assert server in config


def test_rasa_keeps_its_trackers_beside_the_desks_database_and_its_locks_in_the_same_redis(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://desk:p%40ss@db.internal:6543/loja",
        redis_url="redis://:r3dis@cache.internal:6380/2",
        redis_prefix="loja-mare",
        secrets_file=tmp_path / "secrets.json",
    )
    endpoints = yaml.safe_load(rasa_endpoints(settings))
    assert endpoints["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 6543,
        "db": "loja_rasa",
        "login_db": "loja",
        "username": "desk",
        "password": "p@ss",
    }
    assert endpoints["lock_store"] == {
        "type": "redis",
        "url": "cache.internal",
        "port": 6380,
        "db": 2,
        "key_prefix": "lojamarerasa",
        "password": "r3dis",
    }
    # The actions' URL and token stay variables (Rasa fills them in from its environment).
    assert endpoints["action_endpoint"] == {"url": "${BALCAO_ACTIONS_URL}", "token": "${BALCAO_ACTIONS_TOKEN}"}
