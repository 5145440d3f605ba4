"""An HTTP proxy in front of the S3 server that answers chosen keys with an S3 error,
or slowly.

It lets tests meet real throttling and access errors through botocore's real
retry logic, slow or stalled answers through its real timeouts, and bodies that the
network cuts (`cuts` maps a key fragment to the fraction of a GET's body that is sent,
with the whole body's Content-Length, before the connection is closed), without
mocking anything in the client. It also logs every request (`requests`), and holds
requests to two rules of AWS that moto does not enforce: a PUT with more than 2 KB of
user metadata is refused (MetadataTooLarge), and, when `may_list` is set, a missing
key answers 403 rather than 404 unless the caller may list the bucket.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ERRORS = {
    "SlowDown": (503, "Please reduce your request rate."),
    "AccessDenied": (403, "Access Denied"),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    # How S3 explains a 403 for a missing key to a caller of the same account.
    "AccessDenied/ListBucket": (
        403,
        "User: arn:aws:sts::123456789012:assumed-role/image-resizer-role/image-resizer is not "
        "authorized to perform: s3:ListBucket on resource: &quot;arn:aws:s3:::bucket&quot; "
        "because no identity-based policy allows the s3:ListBucket action",
    ),
}

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")

# AWS: "the user-defined metadata is limited to 2 KB in size", measured as the sum of
# the UTF-8 bytes of each key and value.
MAX_METADATA_BYTES = 2048


# Longer than any test: a slow answer lasts until the proxy closes, unless told otherwise.
FOREVER = 600.0


@dataclass(frozen=True)
class Slow:
    """How to answer `method` requests slowly.

    `stall_at` None: wait `seconds` before the status line (the request is forwarded
    only after the wait). A fraction: send the headers and that part of the body, then
    wait `seconds` before the rest; with `drip`, send `drip` bytes every `every`
    seconds instead (each wait shorter than any read timeout, the whole far longer).
    """

    method: str
    seconds: float = FOREVER
    stall_at: float | None = None
    drip: int = 0
    every: float = 0.0


class FaultProxy:
    """Forwards to `upstream`; `rules` maps a key fragment to an S3 error code, `slow`
    to a `Slow` answer. A slow answer still waiting when the proxy closes is dropped.

    A rule's fragment may start with a method ("GET images/cat") to match that method only.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: dict[str, str] = {}
        self.cuts: dict[str, float] = {}
        self.slow: dict[str, Slow] = {}
        self.hits: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []  # (method, decoded path without query)
        # (bucket, key) -> may the caller list the bucket at that key? (see the docstring)
        self.may_list: Callable[[str, str], bool] | None = None
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._hit = threading.Condition(self._lock)  # notified on every hit

    def slow_for(self, method: str, path: str) -> Slow | None:
        decoded = unquote(path)
        for fragment, slow in self.slow.items():
            if fragment in decoded and slow.method == method:
                with self._lock:
                    self.hits[fragment] = self.hits.get(fragment, 0) + 1
                    self._hit.notify_all()
                return slow
        return None

    def wait_for_hit(self, fragment: str, timeout: float) -> bool:
        """Block until a request has met the fault at `fragment` (False after `timeout` s)."""
        with self._hit:
            return self._hit.wait_for(lambda: self.hits.get(fragment, 0) > 0, timeout)

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the proxy closed meanwhile (drop the answer)."""
        return not self.closing.wait(seconds)

    def seen(self, method: str, fragment: str) -> int:
        """How many `method` requests named a path containing `fragment`."""
        return sum(1 for m, path in self.requests if m == method and fragment in path)

    def match(self, method: str, path: str) -> str | None:
        decoded = unquote(path)
        for fragment, code in self.rules.items():
            wanted, _, part = fragment.partition(" ")
            if wanted not in METHODS:
                wanted, part = method, fragment
            if part in decoded and wanted == method:
                with self._lock:
                    self.hits[fragment] = self.hits.get(fragment, 0) + 1
                    self._hit.notify_all()
                return code
        return None

    def cut(self, path: str) -> float | None:
        decoded = unquote(path)
        return next((f for fragment, f in self.cuts.items() if fragment in decoded), None)


@contextmanager
def fault_proxy(upstream: str) -> Iterator[tuple[str, FaultProxy]]:
    """Yield (endpoint, proxy) for a proxy running on 127.0.0.1 until the block ends."""
    proxy = FaultProxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _error(self, code: str) -> None:
            status, message = ERRORS[code]
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code.split("/")[0]}</Code>'
                f"<Message>{message}</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            path = unquote(urlsplit(self.path).path)
            with proxy._lock:
                proxy.requests.append((self.command, path))
            slow = proxy.slow_for(self.command, self.path)
            if slow is not None and slow.stall_at is None and not proxy.wait(slow.seconds):
                self.close_connection = True
                return
            code = proxy.match(self.command, self.path)
            if code is not None:
                return self._error(code)
            if self.command == "PUT" and _metadata_bytes(self.headers.items()) > MAX_METADATA_BYTES:
                return self._error("MetadataTooLarge")
            upstream = http.client.HTTPConnection(
                proxy.upstream.hostname, proxy.upstream.port, timeout=30
            )
            # The Host header is passed on as the client signed it (SigV4 covers it).
            headers = dict(self.headers.items())
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            bucket, _, key = path.lstrip("/").partition("/")
            if (
                response.status == 404
                and self.command in ("GET", "HEAD")
                and key
                and proxy.may_list is not None
                and not proxy.may_list(bucket, key)
            ):
                upstream.close()
                return self._error("AccessDenied")
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            upstream.close()
            if self.command == "HEAD":
                return
            cut = proxy.cut(self.path) if self.command == "GET" else None
            if cut is not None:  # fewer bytes than Content-Length, then the connection drops
                self.wfile.write(data[: int(len(data) * cut)])
                self.wfile.flush()
                self.close_connection = True
                return
            if slow is None or slow.stall_at is None:
                self.wfile.write(data)
                return
            self._stall(data, slow)

        def _stall(self, data: bytes, slow: Slow) -> None:
            cut = int(len(data) * slow.stall_at)
            try:
                self.wfile.write(data[:cut])
                self.wfile.flush()
                if not slow.drip:
                    if proxy.wait(slow.seconds):
                        self.wfile.write(data[cut:])
                    return
                end = time.monotonic() + slow.seconds
                while cut < len(data) and time.monotonic() < end and proxy.wait(slow.every):
                    self.wfile.write(data[cut : cut + slow.drip])
                    self.wfile.flush()
                    cut += slow.drip
            except OSError:  # the client gave up and closed the connection
                pass
            finally:
                self.close_connection = True

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        proxy.closing.set()
        server.shutdown()
        server.server_close()


def _metadata_bytes(headers: list[tuple[str, str]]) -> int:
    # http.server decodes header bytes as Latin-1: encode them back to count bytes.
    return sum(
        len(name[len("x-amz-meta-") :].encode("latin-1")) + len(value.encode("latin-1"))
        for name, value in headers
        if name.lower().startswith("x-amz-meta-")
    )
