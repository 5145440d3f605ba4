"""An HTTP proxy in front of the S3 server that answers chosen keys with an S3 error.

It lets tests meet real throttling and access errors through botocore's real
retry logic, without mocking anything in the client; and bodies that the network
cuts: `cuts` maps a key fragment to the fraction of a GET's body that is sent, with
the whole body's Content-Length, before the connection is closed.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ERRORS = {
    "SlowDown": (503, "Please reduce your request rate."),
    "AccessDenied": (403, "Access Denied"),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}


class FaultProxy:
    """Forwards to `upstream`; `rules` maps a key fragment to an S3 error code."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: dict[str, str] = {}
        self.cuts: dict[str, float] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()

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
            cut = proxy.cut(self.path) if self.command == "GET" else None
            if cut is not None:  # fewer bytes than Content-Length, then the connection drops
                self.wfile.write(data[: int(len(data) * cut)])
                self.wfile.flush()
                self.close_connection = True
            elif self.command != "HEAD":
                self.wfile.write(data)
            upstream.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
