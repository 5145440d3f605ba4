"""What a store hands the pipeline: a source's headers, a copy's, its bytes read by a deadline.

Shared by the S3 store (storage.py) and the local one (app/localfiles.py), and free of
botocore, so that resizing local files never loads the AWS SDK.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from app.errors import ResizerError, TransientError
from app.model import ObjectRef
from app.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

# Bytes read from the network at a time: 0.6 ms of a 100 MB/s GET, so the decoder
# still starts on the first bytes almost at once.
READ_CHUNK = 64 * 1024
# Near the deadline, how often a download's socket timeout is lowered to the time left.
TICK_S = 0.05
# The socket timeout that ends a read in progress at the deadline (0 would mean non-blocking).
_EXPIRED_S = 0.001


class Head(Record):
    """A source's headers, from a HeadObject: what the checks before any GET need."""

    size: int
    etag: str
    content_type: str
    metadata: dict[str, str]
    version: str | None = None  # S3's x-amz-version-id (versioned buckets)


class CopyHead(Record):
    """An existing copy's user metadata, and its version (None: an unversioned bucket)."""

    metadata: dict[str, str]
    version: str | None = None
    etag: str = ""


class Download:
    """An object being read: its headers now, its bytes as `read(n)` is called.

    With a `deadline` (a `time.monotonic()` value), reading ends by then: see `_watch`.
    `read_timeout` is the client's: how long one wait for bytes may last.
    """

    __slots__ = (
        "_body",
        "_closed",
        "_cut",
        "_lock",
        "_pending",
        "content_type",
        "deadline",
        "etag",
        "failure",
        "metadata",
        "read_timeout",
        "received",
        "ref",
        "size",
        "waited_s",
    )

    def __init__(
        self,
        ref: ObjectRef,
        size: int,
        etag: str,
        content_type: str,
        metadata: dict[str, str],
        body: Any,
        deadline: float | None = None,
        read_timeout: float = 0.0,
    ) -> None:
        self.ref = ref
        self.size = size
        self.etag = etag
        self.content_type = content_type
        self.metadata = metadata
        self.deadline = deadline
        self.read_timeout = read_timeout
        self.failure: ResizerError | None = None
        self.waited_s = 0.0  # time spent inside `read`, waiting on the network
        self.received = 0  # bytes the body has given so far
        self._body = body
        self._pending = memoryview(b"")
        self._cut = False  # the deadline, no longer the read timeout, bounds the waits
        self._closed = threading.Event()
        self._lock = threading.Lock()
        if deadline is not None:
            threading.Thread(target=self._watch, args=(deadline,), daemon=True).start()

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end or after a failure (kept in `failure`).

        libvips asks for 4 KB at a time; the network is read `READ_CHUNK` at a time,
        as each read through botocore and urllib3 costs tens of microseconds (a
        20 MP photo is 1,000 reads of 4 KB). libvips calls this from C and cannot
        carry a Python exception through, so a network failure is recorded here and
        re-raised by the caller. A body that ends before `size` bytes is such a failure
        too: a decoder would take it for the end of a (damaged) file.
        """
        if self.failure is not None:
            return b""
        if not self._pending:
            start = time.perf_counter()
            try:
                self._bound_next_read()
                data = self._body.read(max(size, READ_CHUNK))
            except Exception as error:  # noqa: BLE001 - nothing may escape into libvips' C
                self.failure = self._failed(error)
                return b""
            finally:
                self.waited_s += time.perf_counter() - start
            self.received += len(data)
            if not data and self.received < self.size:
                self.failure = TransientError(
                    f"the download of {self.ref.uri} ended after {self.received:,} of "
                    f"{self.size:,} bytes; left for a retry"
                )
            self._pending = memoryview(data)
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return bytes(chunk)

    def finish(self) -> None:
        """Read what the decoder left (bytes after an image's end, a TIFF's trailer), so
        that a body cut there is seen too, and the connection can be reused."""
        while self.read(READ_CHUNK):
            pass

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._body.close()

    def _bound_next_read(self) -> None:
        """No read starts once the deadline has passed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self._cut = True
            raise TimeoutError

    def _watch(self, deadline: float) -> None:
        """Keep every wait for bytes within the time left, once it is under the read timeout.

        One `read` waits for bytes many times (a trickle passes each wait), each wait
        bounded by the socket's timeout: from one read timeout before the deadline,
        that timeout is lowered to the time left every `TICK_S` (botocore's
        `set_socket_timeout`), and at the deadline a read in progress ends.
        """
        if self._closed.wait(deadline - self.read_timeout - time.monotonic()):
            return
        while True:
            left = deadline - time.monotonic()
            with self._lock:
                if self._closed.is_set() or self.received >= self.size:
                    return
                self._cut = True
                with contextlib.suppress(AttributeError):  # the last bytes came in meanwhile
                    self._body.set_socket_timeout(max(left, _EXPIRED_S))
            if left <= 0 or self._closed.wait(min(left, TICK_S)):
                return

    def _failed(self, error: Exception) -> TransientError:
        part = f"after {self.received:,} of {self.size:,} bytes"
        if not _timed_out(error):
            return TransientError(f"reading {self.ref.uri} failed {part}: {error}")
        if self._cut:
            return TransientError(
                f"reading {self.ref.uri} stopped at the Lambda deadline {part}; left for a retry"
            )
        return TransientError(
            f"reading {self.ref.uri} stalled {part}: no bytes for {self.read_timeout:g} s "
            "(the read timeout)"
        )


def _timed_out(error: Exception) -> bool:
    """A socket's timeout, or botocore's ReadTimeoutError (which only a loaded botocore raises)."""
    botocore_errors = sys.modules.get("botocore.exceptions")
    return isinstance(error, TimeoutError) or (
        botocore_errors is not None and isinstance(error, botocore_errors.ReadTimeoutError)
    )
