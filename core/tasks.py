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

logger = logging.getLogger(__name__)

STOP_WAIT_S = 2.0  # a step in flight (one Redis or database call) ends well within this
_LINGERING: set[asyncio.Task] = set()  # stopped tasks still finishing their step: kept from the garbage collector


async def stop_loop(task: asyncio.Task, stop: asyncio.Event, *, within_s: float = STOP_WAIT_S) -> None:
    """Stop ``task``, whose loop ends once ``stop`` is set: set it, cancel the task and wait for it
    to end, at most ``within_s`` (after that it finishes its step in the background)."""
    stop.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        logger.warning("%s still running %.0f s after it was stopped; it ends after its current step", task.get_name(), within_s)
        _LINGERING.add(task)
        task.add_done_callback(_LINGERING.discard)
        return
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            logger.warning("%s ended with an error", task.get_name(), exc_info=error)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
