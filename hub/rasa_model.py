"""The trained Rasa model, cached by the content hash of what it is trained from."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from hub.settings import ROOT

TRAINING_INPUTS = ("config.yml", "bot/domain.yml", "data/nlu", "data/rules.yml", "data/stories.yml")
RASA_VENV = ROOT / ".venv-rasa"
MODELS_DIR = ROOT / "var" / "rasa-models"


class RasaNotInstalled(FileNotFoundError):
    """The Python 3.10 venv with Rasa is missing."""


class TrainingFailed(RuntimeError):
    """``rasa train`` failed (its output says why)."""


def rasa_executable() -> Path:
    """The ``rasa`` command of the Python 3.10 venv."""
    path = RASA_VENV / "bin" / "rasa"
    if not path.exists():
        raise RasaNotInstalled(f"{path} is missing: run `make venvs` (Rasa 3.6 needs its own Python 3.10 venv)")
    return path


def training_hash(root: Path = ROOT) -> str:
    """A hash of the training inputs' paths and contents: a new model is trained only when it changes."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def rasa_command(*args: str) -> list[str]:
    """A ``rasa`` command line, with the project's config, domain and training data."""
    return [str(rasa_executable()), *args]


def ensure_model(*, quiet: bool = False) -> Path:
    """The model for the current training data, training it first if it does not exist yet."""
    name = training_hash()
    model = MODELS_DIR / f"{name}.tar.gz"
    if model.exists():
        return model
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    command = rasa_command(
        "train",
        "--config",
        "config.yml",
        "--domain",
        "bot/domain.yml",
        "--data",
        "data/nlu",
        "data/rules.yml",
        "data/stories.yml",
        "--out",
        str(MODELS_DIR),
        "--fixed-model-name",
        name,
    )
    print(f"training the Rasa model {name} (the training data changed)…", file=sys.stderr, flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=quiet, text=True, check=False
    )  # the return code is read below
    if result.returncode != 0 or not model.exists():
        detail = (result.stderr or "")[-2000:] if quiet else "(its output is above)"
        raise TrainingFailed(f"training the Rasa model failed (exit {result.returncode}) {detail}")
    return model


def server_command(model: Path, *, port: int, token: str, endpoints: Path | None = None) -> list[str]:
    """The Rasa server: REST channel and HTTP API on loopback only, with the auth token.
    ``endpoints``: another endpoints file than bot/endpoints.yml (the scaled setup's). It is Rasa's
    own ``rasa run`` through ``bot/rasa_server.py``, which takes a cost out of every turn."""
    rasa_executable()  # the venv must exist (RasaNotInstalled says how to make it)
    return [
        str(RASA_VENV / "bin" / "python"),
        str(ROOT / "bot" / "rasa_server.py"),
        "run",
        "--model",
        str(model),
        "--endpoints",
        str(endpoints or "bot/endpoints.yml"),
        "--credentials",
        "bot/credentials.yml",
        "--enable-api",
        f"--auth-token={token}",
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--quiet",
    ]


def server_env(*, actions_url: str, actions_token: str, tracker_db: Path) -> dict[str, str]:
    """Environment for the Rasa server: where the actions are, the token it proves itself to them
    with (bot/endpoints.yml; not the hub's token for Rasa's API), and where trackers are stored."""
    tracker_db.parent.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "BALCAO_ACTIONS_URL": actions_url,
        "BALCAO_ACTIONS_TOKEN": actions_token,
        "BALCAO_RASA_TRACKER_DB": str(tracker_db),
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",  # Rasa 3.6's dependencies print pages of deprecation warnings
    }
