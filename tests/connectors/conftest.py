"""A hub without Rasa for the connectors' security tests: nothing they check needs the bot (a
customer's message then takes the bot-failure path and is handed to a person)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ratelimit import RateLimits
from tests.support import RunningHub, hub_settings, start_hub


@pytest.fixture(scope="session")
def bare_hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub with default (generated) secrets and no Rasa behind it."""
    hub = start_hub(hub_settings(tmp_path_factory.mktemp("bare-hub"), cache_dir=index_cache, rasa_attempts=1))
    yield hub
    hub.stop()


@pytest.fixture
def bare_limits(bare_hub: RunningHub) -> Iterator[RateLimits]:
    """The bare hub's limits, for a test to tighten; put back afterwards."""
    limits: RateLimits = bare_hub.app.state.rate_limits
    saved = (limits.customer, limits.ip, limits.trusted_proxies)
    yield limits
    limits.customer, limits.ip, limits.trusted_proxies = saved
