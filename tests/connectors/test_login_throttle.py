"""The counts behind the login throttle (in-process; the Redis ones are tested through two hubs in
tests/hub/test_logins.py): attempts counted before they are checked, waits that double, a right
password given back, counts forgotten."""

from __future__ import annotations

from connectors.login_throttle import Lockouts, lock_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_starts_at_the_allowed_attempt_and_doubles_up_to_the_longest() -> None:
    waits = [lock_seconds(n, allowed=5, lock_s=60, max_lock_s=3600) for n in range(1, 13)]
    assert waits == [0, 0, 0, 0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert lock_seconds(10**6, allowed=5, lock_s=60, max_lock_s=3600) == 3600  # no overflow


async def test_attempts_wait_once_the_allowed_ones_are_taken_and_longer_each_time() -> None:
    clock = Clock()
    lockouts = Lockouts(3, 10, 100, clock=clock)
    assert [await lockouts.take("ana") for _ in range(3)] == [0, 0, 0]
    assert await lockouts.take("ana") == 10  # locked: nothing counted
    assert await lockouts.take("bruno") == 0  # another key
    clock.now += 10
    assert await lockouts.take("ana") == 0  # one more try…
    assert await lockouts.take("ana") == 20  # …then twice the wait


async def test_a_right_attempt_is_given_back_and_clearing_starts_afresh() -> None:
    clock = Clock()
    lockouts = Lockouts(3, 10, 100, clock=clock)
    for _ in range(3):
        await lockouts.take("10.0.0.1")
    await lockouts.give_back("10.0.0.1")  # the third was right: it neither counts nor locks
    assert await lockouts.take("10.0.0.1") == 0
    assert await lockouts.take("10.0.0.1") == 10
    await lockouts.clear("10.0.0.1")
    assert await lockouts.take("10.0.0.1") == 0


async def test_a_count_is_forgotten_two_longest_waits_after_its_last_attempt() -> None:
    clock = Clock()
    lockouts = Lockouts(3, 10, 100, clock=clock)
    for _ in range(2):
        await lockouts.take("ana")
    clock.now += 201
    for _ in range(3):
        assert await lockouts.take("ana") == 0
