"""A Lambda Runtime API emulator on loopback, compatible with the RIE for what users touch.

It serves the invoke URL (`POST /2015-03-31/functions/function/invocations`)
and the Runtime API that `awslambdaric` speaks, and runs the real runtime,
`python -m awslambdaric HANDLER`, as a child process, as the RIE does:

    invoker --POST invocations--> [emulator] <--GET next / POST response-- awslambdaric

Invocations are served one at a time. A handler that runs past the timeout
gets the invoker a `Task timed out` error and the runtime is killed; a runtime
that crashes or exits is restarted at the next invocation; an event is never
handed to a runtime that is gone. Run it with `python -m devtools.emulator`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from devtools.image_env import image_env

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RUNTIME = "/2018-06-01/runtime"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Invocation:
    """One event on its way through the runtime."""

    body: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline_ms: int = 0
    result: bytes | None = None
    is_error: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, body: bytes, *, error: bool) -> None:
        if not self.done.is_set():
            self.result, self.is_error = body, error
            self.done.set()


class Emulator:
    """The emulator's state: the runtime process and the invocation it is working on."""

    def __init__(
        self,
        handler: str,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: Path = ROOT,
        runtime: Sequence[str] = (sys.executable, "-m", "awslambdaric"),
        output: IO[bytes] | None = None,
    ) -> None:
        """`env` adds to this process's environment and the image's ENV lines, or, with
        `inherit_env=False`, is the runtime's whole environment. `runtime` is the command
        that starts the runtime client, to which the handler name is added."""
        self.handler = handler
        self.output = output  # where the runtime's stdout and stderr go (CloudWatch Logs)
        inherited = {**os.environ, **image_env()} if inherit_env else {}
        self.env = {**inherited, **(env or {})}  # as the image runs it
        self.cwd = cwd
        self.runtime = list(runtime)
        self.timeout_s = float(self.env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "300"))
        self.memory_mb = int(self.env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008"))
        self.function_name = self.env.get("AWS_LAMBDA_FUNCTION_NAME", "test_function")
        self.function_arn = f"arn:aws:lambda:us-east-1:012345678912:function:{self.function_name}"
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        self.address = f"{host}:{self.server.server_address[1]}"
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0  # bumped each time a runtime dies: stale /next calls drop out
        self.init_error: bytes | None = None
        self.pending: Invocation | None = None  # queued, not yet taken by the runtime
        self.current: Invocation | None = None  # taken by the runtime
        self.cond = threading.Condition()
        self.invoke_lock = threading.Lock()  # one invocation at a time, as Lambda does
        self.restarts = 0

    # -- life cycle -------------------------------------------------------------------

    def serve_in_background(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._kill()

    def __enter__(self) -> Emulator:
        self.serve_in_background()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the invoke URL ---------------------------------------------------------------

    def invoke(self, body: bytes) -> tuple[bytes, bool]:
        """Run one event through the runtime; return (reply body, whether it is an error)."""
        with self.invoke_lock:
            invocation = Invocation(body)
            with self.cond:
                self._ensure_runtime()
                invocation.deadline_ms = int((time.time() + self.timeout_s) * 1000)
                self.pending = invocation
                self.cond.notify_all()
            if not invocation.done.wait(self.timeout_s):
                invocation.finish(
                    _error(
                        invocation.request_id,
                        "Runtime.Timeout",
                        f"Task timed out after {self.timeout_s:.2f} seconds",
                    ),
                    error=True,
                )
                self._kill()  # as Lambda does: the sandbox is reset after a timeout
            with self.cond:
                self.pending = self.current = None
            assert invocation.result is not None
            return invocation.result, invocation.is_error

    def _ensure_runtime(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            self.restarts += 1
        self.init_error = None
        env = {
            **self.env,
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": str(self.cwd),
        }
        self.generation += 1  # /next calls still waiting from an earlier runtime drop out
        self.cond.notify_all()
        process = subprocess.Popen(
            [*self.runtime, self.handler],
            cwd=self.cwd,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output else None,
            # Out of the terminal's process group: Ctrl-C reaches the stack, which stops
            # the runtime itself, in order, instead of each part dying on its own.
            start_new_session=True,
        )
        self.process = process
        threading.Thread(target=self._watch, args=(process, self.generation), daemon=True).start()

    def _watch(self, process: subprocess.Popen[bytes], generation: int) -> None:
        """Wait for a runtime to end; fail what it held, so no invoker waits forever."""
        status = process.wait()
        with self.cond:
            if self.generation != generation:
                return  # already replaced by a newer runtime
            self.generation += 1
            for invocation in (self.current, self.pending):
                if invocation is None:
                    continue
                if self.init_error is not None:
                    invocation.finish(self.init_error, error=True)
                else:
                    invocation.finish(
                        _error(
                            invocation.request_id,
                            "Runtime.ExitError",
                            f"RequestId: {invocation.request_id} Error: Runtime exited with "
                            f"error: exit status {status}",
                        ),
                        error=True,
                    )
            self.cond.notify_all()

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    # -- the Runtime API --------------------------------------------------------------

    def next_invocation(self) -> Invocation | None:
        """Block until an event is queued; None if this caller's runtime died meanwhile."""
        with self.cond:
            generation = self.generation
            while self.pending is None and self.generation == generation:
                self.cond.wait(timeout=1)
            if self.generation != generation:
                return None
            invocation, self.pending, self.current = self.pending, None, self.pending
            return invocation

    def requeue(self, invocation: Invocation) -> None:
        """The runtime's connection broke before it got the event: offer it again."""
        with self.cond:
            if self.current is invocation and not invocation.done.is_set():
                self.pending, self.current = invocation, None
                self.cond.notify_all()

    def complete(self, request_id: str, body: bytes, *, error: bool) -> bool:
        with self.cond:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                return False
            invocation.finish(body, error=error)
            return True


def _error(request_id: str, error_type: str, message: str) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
    ).encode()


def _handler_class(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if size == 0:
                        return b"".join(chunks)
                    chunks.append(chunk)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self) -> None:
            if self.path != f"{RUNTIME}/invocation/next":
                self._reply(HTTPStatus.NOT_FOUND, b'{"errorMessage":"not found"}')
                return
            invocation = emulator.next_invocation()
            if invocation is None:  # its runtime is gone: nobody reads this reply
                with contextlib.suppress(OSError):
                    self._reply(HTTPStatus.GONE, b'{"errorMessage":"runtime replaced"}')
                return
            trace = (
                f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent="
                f"{uuid.uuid4().hex[:16]};Sampled=0"
            )
            try:
                self._reply(
                    HTTPStatus.OK,
                    invocation.body,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": emulator.function_arn,
                        "Lambda-Runtime-Trace-Id": trace,
                    },
                )
            except OSError:
                emulator.requeue(invocation)

        def do_POST(self) -> None:
            body = self._body()
            parts = self.path.split("/")
            if self.path == INVOKE_PATH:
                result, failed = emulator.invoke(body or b"{}")
                headers = {"X-Amz-Function-Error": "Unhandled"} if failed else {}
                self._reply(HTTPStatus.OK, result, headers)
            elif self.path == f"{RUNTIME}/init/error":
                emulator.init_error = body
                self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            elif (
                self.path.startswith(f"{RUNTIME}/invocation/")
                and len(parts) == 6
                and parts[5] in ("response", "error")
            ):
                if emulator.complete(parts[4], body, error=parts[5] == "error"):
                    self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                else:
                    self._reply(
                        HTTPStatus.BAD_REQUEST, b'{"errorMessage":"unknown or finished request id"}'
                    )
            else:
                self._reply(HTTPStatus.NOT_FOUND, b'{"errorMessage":"not found"}')

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.emulator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("handler", nargs="?", default="app.handler.handler")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    emulator = Emulator(args.handler, port=args.port)
    print(f"Runtime API emulator on http://{emulator.address}{INVOKE_PATH}", flush=True)
    try:
        emulator.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.server.server_close()
        emulator._kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
