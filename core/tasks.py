"""Stopping a helper task whose loop may not hear its cancellation.

redis-py's asyncio client now and then swallows a ``CancelledError`` that arrives while a command is
in flight (redis/redis-py#2028 and #2551; here 11 of 500 publishes cancelled mid-flight carried on
as if nothing had happened). A loop stopped by ``cancel()`` alone then runs on, and whoever awaits
it waits for ever: under load a customer's webhook hung until the proxy gave up, and the loop kept
sending "typing…". So a helper loop also watches an event, and its owner waits for it only briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

logger = logging.getLogger(__name__)

STOP_WAIT_S = 2.0  # a step in flight (one Redis or database call) ends well within this
_LINGERING: set[asyncio.Task] = set()  # stopped tasks still finishing their step: kept from the garbage collector


async def stop_tasks(tasks: Collection[asyncio.Task], *, within_s: float = STOP_WAIT_S) -> None:
    """Cancel ``tasks`` and wait for them at most ``within_s``; one still running then is left to
    finish on its own (kept referenced). Failures are logged, not raised: stopping goes on."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, running = await asyncio.wait(tasks, timeout=within_s)
    for task in running:
        logger.warning("%s still running %.0f s after it was cancelled; left to finish on its own", task.get_coro(), within_s)
        _LINGERING.add(task)
        task.add_done_callback(_LINGERING.discard)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s ended with an error", task.get_coro(), exc_info=task.exception())


async def stop_loop(task: asyncio.Task, stop: asyncio.Event, *, within_s: float = STOP_WAIT_S) -> None:
    """Stop ``task``, whose loop ends once ``stop`` is set: set it, then ``stop_tasks`` (a step still
    in flight after ``within_s`` ends in the background, and the loop with it)."""
    stop.set()
    await stop_tasks([task], within_s=within_s)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
