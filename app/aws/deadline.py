"""The invocation's time: every network wait and retry fits in what is left of it.

Lambda stops an invocation at its deadline with no reply, no log line and no metric,
and SQS then retries the whole batch. So the handler stops waiting for objects
`RESERVE_S` before that deadline and keeps that time for its reply, its log lines and
the metrics flush; whatever has not finished by then is reported as retryable.

Each S3 call is bounded too, by botocore's own settings: its connect and read timeouts
and its number of attempts come from the time left when the call starts (`Timeouts`,
one client per setting, made on first use), so that even the worst case of every
attempt and every back-off fits. A streaming GET lowers its socket's timeout as the
deadline nears (storage.Download.read). Network waits end `SETTLE_S` before the handler
stops waiting, so that a stalled call reports its own reason.

Every wait knows the deadline: S3 calls (above; each LIST page and each retry is
fitted to the time left when it starts), a download's reads, and the wait for the
memory budget (app/image/memory.py), which ends at the deadline with the object left for a
retry. Nothing is started that cannot finish: an object is not started, nor its decode
(which cannot be stopped half-way) begun, without the time it may need
(app/renditions/pipeline.py); one that needs more than a whole invocation fails for good, naming
the timeout it would need, rather than being retried until the dead-letter queue.

A worker thread can still be busy when the handler stops waiting for it: the handler
stops `SETTLE_S` after the work's deadline, and a decode begun with the time it was
estimated to need may still outrun it. It is left behind, not waited for; its result
is dropped. It cannot write a copy late: its store is bound to the invocation's
deadline and refuses to send any request after it (a PUT already sent stays, and holds
the same bytes that the retry writes), and it stops between steps. It shares no
per-invocation state with the next invocation: its memory-budget share is given back
as it ends, and a connection it holds is simply not in the pool meanwhile.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from app.errors import PermanentError, TransientError
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import TypeVar

    from botocore.config import Config
    from mypy_boto3_s3 import S3Client

    T = TypeVar("T")
    R = TypeVar("R")

# Kept after the last object for the reply, the log lines and the metrics flush.
RESERVE_S = 1.0
# Network waits end this much earlier still, so a stalled call reports its own reason.
SETTLE_S = 0.5


class Timeouts(Record):
    """botocore's settings for one S3 call: seconds to connect, to wait, and attempts."""

    connect: float
    read: float
    attempts: int

    @property
    def worst_s(self) -> float:
        """The longest a call can take with these settings.

        Each attempt connects and sends its body (urllib3 bounds both by the connect
        timeout) and then waits for the answer (the read timeout); between attempts
        botocore's standard mode sleeps at most 1, 2, 4 s (throttling; other errors
        20 times less).
        """
        backoff = sum(min(2.0**i, 20.0) for i in range(self.attempts - 1))
        return self.attempts * (2 * self.connect + self.read) + backoff

    def config(self) -> Config:
        """These settings as a botocore Config, to merge over the client's own."""
        from botocore.config import Config  # here: local files never load botocore

        return Config(
            connect_timeout=self.connect,
            read_timeout=self.read,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
        )


# From the most generous down; a call takes the first whose worst case fits in the
# time left. The first is for calls with no deadline (and functions of 3 min or more);
# S3 answers in tens of milliseconds, so 1 s still leaves it a wide margin.
LADDER = (
    Timeouts(connect=5, read=30, attempts=4),  # worst 167 s
    Timeouts(connect=2, read=15, attempts=4),  # 83 s
    Timeouts(connect=2, read=8, attempts=4),  # 55 s: a 60 s function's first objects
    Timeouts(connect=1, read=4, attempts=4),  # 31 s
    Timeouts(connect=1, read=2, attempts=3),  # 15 s
    Timeouts(connect=0.5, read=1, attempts=2),  # 5 s
    Timeouts(connect=0.5, read=1, attempts=1),  # 2 s
    Timeouts(connect=0.25, read=0.5, attempts=1),  # 1 s
)


def timeouts_for(left_s: float | None, ladder: tuple[Timeouts, ...] = LADDER) -> Timeouts | None:
    """The most generous settings of `ladder` whose worst case fits in `left_s`, or None."""
    if left_s is None:
        return ladder[0]
    return next((t for t in ladder if t.worst_s <= left_s), None)


def check_need(
    need_ms: float, until: float | None, span_s: float | None, what: str, step: str
) -> None:
    """Refuse to start `step` of `what`, which may need `need_ms`: for good (PermanentError)
    if it needs more than any invocation gives (`span_s`), else for a retry
    (TransientError) if less is left before `until` (a `time.monotonic()` value)."""
    if span_s is not None and need_ms > span_s * 1000:
        kept_s = RESERVE_S + SETTLE_S
        timeout_s = math.ceil(need_ms / 1000 + kept_s)
        raise PermanentError(
            f"can never finish: {what} needs up to {need_ms:,.0f} ms, and an invocation of "
            f"this function gives at most {span_s * 1000:,.0f} ms (its timeout less "
            f"{kept_s * 1000:,.0f} ms kept for the reply): raise the function's timeout to "
            f"at least {timeout_s:,} s, or lower MAX_INPUT_BYTES and MAX_INPUT_PIXELS"
        )
    if until is None:
        return
    left_ms = (until - time.monotonic()) * 1000
    if left_ms < need_ms:
        raise TransientError(
            f"not {step}: {left_ms:,.0f} ms left before the Lambda deadline "
            f"and {what} needs up to {need_ms:,.0f} ms; left for a retry"
        )


def plan(remaining_ms: int) -> tuple[float, float]:
    """(stop waiting, end work) as `time.monotonic()` values, from Lambda's time left."""
    stop = time.monotonic() + remaining_ms / 1000 - RESERVE_S
    return stop, stop - SETTLE_S


class Clients:
    """One boto3 S3 client per `Timeouts`, made on first use and kept (warm connections)."""

    def __init__(self, make: Callable[[Config], S3Client]) -> None:
        """`make(config)` returns a new client with `config` merged over the base one."""
        self._make = make
        self._made: dict[Timeouts, S3Client] = {}
        self._lock = threading.Lock()  # boto3 does not make clients thread-safely

    def get(self, timeouts: Timeouts) -> S3Client:
        """The client whose calls use `timeouts`."""
        with self._lock:
            client = self._made.get(timeouts)
            if client is None:
                client = self._made[timeouts] = self._make(timeouts.config())
            return client


def map_until(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    until: float,
    late: Callable[[T], R],
    unstarted: Callable[[T, RuntimeError], R],
) -> list[R]:
    """`fn` over `items` on `workers` threads, in order; `late(item)` for each not done by
    `until` (a `time.monotonic()` value). Threads still busy then are left behind.

    `unstarted(item, error)` for an item whose thread could not be started (the process
    is out of threads or memory): that item fails alone, the others run. The pool has
    queued such an item before it found no thread for it; a thread that comes free later
    passes it over, so that no item reported unstarted runs behind the report.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures: list[Future[R] | RuntimeError] = []
    abandoned: set[int] = set()

    def run(index: int, item: T) -> R:
        if index in abandoned:  # its future was never handed out: nothing reads this
            raise RuntimeError("passed over: reported unstarted")
        return fn(item)

    try:
        for index, item in enumerate(items):
            try:
                futures.append(pool.submit(run, index, item))
            except RuntimeError as error:  # "can't start new thread"
                abandoned.add(index)
                futures.append(error)
        running = [f for f in futures if isinstance(f, Future)]
        done, _ = wait(running, timeout=max(0.0, until - time.monotonic()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [
        unstarted(item, f)
        if isinstance(f, RuntimeError)
        else f.result()
        if f in done
        else late(item)
        for f, item in zip(futures, items, strict=True)
    ]
