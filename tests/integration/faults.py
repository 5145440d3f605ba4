"""An HTTP proxy in front of the S3 server that answers chosen keys with an S3 error,
or slowly.

It lets tests meet real throttling and access errors through botocore's real
retry logic, slow or stalled answers through its real timeouts, and bodies that the
network cuts (`cuts` maps a key fragment to the fraction of a GET's body that is sent,
with the whole body's Content-Length, before the connection is closed), without
mocking anything in the client.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ERRORS = {
    "SlowDown": (503, "Please reduce your request rate."),
    "AccessDenied": (403, "Access Denied"),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}


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
    to a `Slow` answer. A slow answer still waiting when the proxy closes is dropped."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: dict[str, str] = {}
        self.cuts: dict[str, float] = {}
        self.slow: dict[str, Slow] = {}
        self.hits: dict[str, int] = {}
        self.closing = threading.Event()
        self._lock = threading.Lock()

    def slow_for(self, method: str, path: str) -> Slow | None:
        decoded = unquote(path)
        for fragment, slow in self.slow.items():
            if fragment in decoded and slow.method == method:
                with self._lock:
                    self.hits[fragment] = self.hits.get(fragment, 0) + 1
                return slow
        return None

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the proxy closed meanwhile (drop the answer)."""
        return not self.closing.wait(seconds)

    def match(self, path: str) -> str | None:
        decoded = unquote(path)
        for fragment, code in self.rules.items():
            if fragment in decoded:
                with self._lock:
                    self.hits[fragment] = self.hits.get(fragment, 0) + 1
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

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            slow = proxy.slow_for(self.command, self.path)
            if slow is not None and slow.stall_at is None and not proxy.wait(slow.seconds):
                self.close_connection = True
                return
            code = proxy.match(self.path)
            if code is not None:
                status, message = ERRORS[code]
                payload = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            upstream = http.client.HTTPConnection(
                proxy.upstream.hostname, proxy.upstream.port, timeout=30
            )
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = proxy.upstream.netloc
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
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
