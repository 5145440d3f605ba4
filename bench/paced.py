"""A TCP proxy on loopback that paces what the server sends back: a slower S3, locally.

On loopback a 4 MB GET takes about 10 ms, which leaves streaming nothing to overlap.
In Lambda one GET stream runs at tens of MB/s, so the download takes about as long as
the decode. This proxy forwards requests as they come and holds responses to
`bytes_per_s` per connection, so that the end-to-end benchmark can show what
streaming buys at such a rate.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

CHUNK = 16 * 1024


@contextlib.contextmanager
def paced_proxy(upstream: tuple[str, int], bytes_per_s: float) -> Iterator[str]:
    """Listen on a free loopback port; yield its URL; stop on exit."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(upstream, timeout=5)
            server.settimeout(None)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=_pipe, args=(server, client, bytes_per_s), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def _pipe(source: socket.socket, sink: socket.socket, bytes_per_s: float | None) -> None:
    """Copy `source` to `sink` until either closes; if paced, each chunk waits for the
    time the ones before it take at `bytes_per_s` (no credit builds up while idle)."""
    free_at = 0.0
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK):
            if bytes_per_s:
                now = time.perf_counter()
                free_at = max(free_at, now) + len(data) / bytes_per_s
                time.sleep(max(0.0, free_at - now - len(data) / bytes_per_s))
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
