"""The time plan: S3 settings that fit in the time left, and a pool that never overstays."""

from __future__ import annotations

import threading
import time

import pytest

from app.aws import deadline
from app.aws.deadline import LADDER, Timeouts, map_until, timeouts_for


def test_the_ladder_goes_from_generous_to_tight():
    worst = [t.worst_s for t in LADDER]
    assert worst == sorted(worst, reverse=True)
    assert LADDER[0] == Timeouts(connect=5, read=30, attempts=4)  # as before: no deadline
    assert all(t.connect <= t.read for t in LADDER)


def test_worst_case_counts_every_attempt_and_back_off():
    # Two waits bounded by the connect timeout (connect, send) and one by the read
    # timeout per attempt; botocore's standard mode sleeps at most 1, 2, 4 s between.
    assert Timeouts(connect=2, read=8, attempts=4).worst_s == 4 * (2 + 2 + 8) + 1 + 2 + 4
    assert Timeouts(connect=0.5, read=1, attempts=1).worst_s == 2


# The time left -> the setting taken, by the worst cases in app/aws/deadline.py's comments
# (167, 83, 55, 31, 15, 5, 2 and 1 s), written out rather than found by the same rule.
TAKEN = [
    (0.5, None),
    (0.99, None),
    (1.0, Timeouts(connect=0.25, read=0.5, attempts=1)),
    (1.7, Timeouts(connect=0.25, read=0.5, attempts=1)),
    (2.0, Timeouts(connect=0.5, read=1, attempts=1)),
    (4.9, Timeouts(connect=0.5, read=1, attempts=1)),
    (5.0, Timeouts(connect=0.5, read=1, attempts=2)),
    (14.0, Timeouts(connect=0.5, read=1, attempts=2)),
    (30.0, Timeouts(connect=1, read=2, attempts=3)),
    (58.5, Timeouts(connect=2, read=8, attempts=4)),
    (166.0, Timeouts(connect=2, read=15, attempts=4)),
    (900, Timeouts(connect=5, read=30, attempts=4)),
]


@pytest.mark.parametrize(("left", "expected"), TAKEN)
def test_the_most_generous_setting_that_fits_is_taken(left, expected):
    assert timeouts_for(left) == expected


def test_the_ladders_worst_cases_are_as_its_comments_say():
    assert [t.worst_s for t in LADDER] == [167, 83, 55, 31, 15, 5, 2, 1]


def test_no_deadline_takes_the_most_generous():
    assert timeouts_for(None) == LADDER[0]


def test_a_60_second_function_keeps_four_attempts():
    stop, until = deadline.plan(60_000)

    assert stop - until == deadline.SETTLE_S
    chosen = timeouts_for(until - time.monotonic())
    assert chosen is not None and chosen.attempts == 4 and chosen.read >= 8


def test_config_carries_the_timeouts_and_attempts():
    config = Timeouts(connect=1, read=2, attempts=3).config()

    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


@pytest.mark.timeout(10)
def test_map_until_reports_what_is_late_and_leaves_its_thread_behind():
    release = threading.Event()

    def work(n: int) -> str:
        if n == 2:
            release.wait(30)  # stuck: a decode that outlasts the deadline
        return f"done {n}"

    start = time.monotonic()
    results = map_until(work, [1, 2, 3], 2, start + 0.5, lambda n: f"late {n}", _unstarted)
    elapsed = time.monotonic() - start
    release.set()

    assert results == ["done 1", "late 2", "done 3"]
    assert 0.5 <= elapsed < 1.5


def test_map_until_does_not_start_what_is_queued_past_the_time():
    started: list[int] = []
    release = threading.Event()

    def work(n: int) -> int:
        started.append(n)
        release.wait(30)
        return n

    before = set(threading.enumerate())
    results = map_until(work, [1, 2, 3], 1, time.monotonic() + 0.2, lambda n: -n, _unstarted)
    [worker] = set(threading.enumerate()) - before  # the pool's one thread, left behind
    release.set()
    worker.join(timeout=10)  # it has done all it ever will: no sleep to guess how long

    assert not worker.is_alive()
    assert results == [-1, -2, -3]
    assert started == [1]  # the queued ones were cancelled, never run


def _unstarted(n: int, error: RuntimeError) -> str:
    raise AssertionError(f"every thread starts here ({n}: {error})")


def test_map_until_fails_alone_an_item_whose_thread_cannot_start(monkeypatch):
    # No thread after the first can start (a process out of threads): the items that
    # asked for one fail alone, and are not run behind the report by the first thread.
    started, refused, ran = [], [], []
    gate = threading.Event()
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if started:
            refused.append(thread)
            if len(refused) == 2:
                gate.set()  # the first thread may go on once both were refused
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)

    def work(n: int) -> str:
        gate.wait(5)  # holds the first thread, so the pool asks for a thread per item
        ran.append(n)
        return f"done {n}"

    def unstarted(n: int, error: RuntimeError) -> str:
        return f"unstarted {n}: {error}"

    results = map_until(work, [1, 2, 3], 3, time.monotonic() + 10, lambda n: f"late {n}", unstarted)
    assert results == [
        "done 1",
        "unstarted 2: can't start new thread",
        "unstarted 3: can't start new thread",
    ]
    started[0].join(5)  # the first thread has taken every queued item by now
    assert ran == [1]
