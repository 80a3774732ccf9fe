"""What the hub gives integrations' routes on ``app.state.integrations``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import HTTPConnection

from integrations.worker import WebhookOptions, WebhookWorker


@dataclass(frozen=True)
class Integrations:
    """The key tokens are hashed with, how webhooks are sent, and this process's sender."""

    token_key: bytes
    options: WebhookOptions
    worker: WebhookWorker


def integrations_of(connection: HTTPConnection) -> Integrations:
    """The integrations services of the app serving ``connection``."""
    return cast(Integrations, connection.app.state.integrations)
