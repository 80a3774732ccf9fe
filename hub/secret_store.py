"""The hub's secrets, one per purpose: given in the environment, or generated on first start and
kept in a file only its owner may read (``BALCAO_SECRETS_FILE``, ``var/secrets.json`` by default),
so a restart reuses them. A hub that listens beyond loopback (or runs as production) refuses a
secret that is known or too short, naming the variable to set. See docs/secrets.md."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.settings import Settings

logger = logging.getLogger(__name__)

# The secrets written in the source of earlier versions: public, so never accepted when exposed.
DEV_SECRET = "balcao-development-secret-not-for-production"  # noqa: S105 - public: listed to be refused
DEV_RASA_TOKEN = "balcao-development-rasa-token"  # noqa: S105 - public: listed to be refused
KNOWN_SECRETS = frozenset({DEV_SECRET, DEV_RASA_TOKEN, "changeme", "change-me", "secret", "password", "balcao"})
MIN_LENGTH = 16  # characters of a secret someone else chose for an exposed hub


@dataclass(frozen=True)
class SecretSpec:
    """One secret: its settings field, the variable that gives it, and what it protects."""

    field: str
    variable: str
    purpose: str


SECRETS = (
    SecretSpec("secret_key", "BALCAO_SECRET_KEY", "signs the staff session cookies"),
    SecretSpec("widget_secret", "BALCAO_WIDGET_SECRET", "signs the website widget's customer tokens"),
    SecretSpec("media_secret", "BALCAO_MEDIA_SECRET", "signs the links to files sent to customers"),
    SecretSpec(
        "identity_secret", "BALCAO_IDENTITY_SECRET", "the shop's server signs its logged-in customer's identity for the widget"
    ),
    SecretSpec("rasa_token", "BALCAO_RASA_TOKEN", "the hub's token for Rasa's HTTP API (rasa run --auth-token)"),
    SecretSpec("actions_token", "BALCAO_ACTIONS_TOKEN", "Rasa's token for the hub's /actions/webhook (bot/endpoints.yml)"),
)


class InsecureSecret(ValueError):
    """A secret an exposed hub must not use; the message names the variable to set."""

    def __init__(self, spec: SecretSpec, why: str) -> None:
        super().__init__(
            f"{spec.variable} {why}, and this hub listens beyond loopback or runs as production: set {spec.variable} to a "
            f"random value of {MIN_LENGTH}+ characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
            "or unset it to have one generated (docs/secrets.md)"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name, "", or "0.0.0.0"-like wildcards are all beyond loopback
        return False


def check_secrets(values: Mapping[str, str], *, exposed: bool) -> None:
    """Refuse, when ``exposed``, a secret (by settings field) that is known or too short. Empty
    values are not checked: they are generated before the hub starts."""
    if not exposed:
        return
    for spec in SECRETS:
        value = values.get(spec.field, "")
        if not value:
            continue
        if value in KNOWN_SECRETS or value.lower() in KNOWN_SECRETS:
            raise InsecureSecret(spec, "is a development value written in public source code")
        if len(value) < MIN_LENGTH:
            raise InsecureSecret(spec, f"is shorter than {MIN_LENGTH} characters")


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the secrets file {path}: {exc}; fix or remove it (docs/secrets.md)") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise RuntimeError(f"the secrets file {path} is not a JSON object of strings; fix or remove it")
    return data


def _write_new(path: Path, data: dict[str, str], *, replace: bool) -> bool:
    """Write ``data`` to ``path`` readable by its owner only, whole or not at all. Without
    ``replace``, a file another process wrote first wins (``False``)."""
    fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic, and fails if the file exists: a reader never sees half a file
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_or_create(path: Path) -> dict[str, str]:
    """Every secret of ``SECRETS`` by variable name, from ``path``; those missing are generated
    (32 random bytes each) and written there, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fresh = {spec.variable: secrets.token_urlsafe(32) for spec in SECRETS}
        if _write_new(path, fresh, replace=False):
            logger.warning("generated the hub's secrets into %s (readable by its owner only); keep the file", path)
            return fresh
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning("the secrets file %s was readable by others (mode %o): made it 0600; consider rotating them", path, mode)
        path.chmod(0o600)
    data = _read(path)
    missing = [spec.variable for spec in SECRETS if not data.get(spec.variable)]
    if missing:  # a file from an older version, or an entry removed to rotate it
        data.update({name: secrets.token_urlsafe(32) for name in missing})
        _write_new(path, data, replace=True)
        logger.warning("generated %s into %s", ", ".join(missing), path)
    return data


def ensure_secrets(settings: Settings) -> Settings:
    """Fill every secret the environment did not give from the secrets file (generating it on first
    start), then refuse known ones if the hub is exposed. Idempotent; returns ``settings``."""
    if any(not getattr(settings, spec.field) for spec in SECRETS):
        stored = load_or_create(settings.secrets_file)
        for spec in SECRETS:
            if not getattr(settings, spec.field):
                setattr(settings, spec.field, stored[spec.variable])
    check_secrets({spec.field: getattr(settings, spec.field) for spec in SECRETS}, exposed=settings.exposed)
    return settings
