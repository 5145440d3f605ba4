"""The local stack (`python -m devtools.stack`) run as a user runs it, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.s3server import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Stack:
    """A running stack: its process, its output lines so far, and its ports."""

    process: subprocess.Popen[str]
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)

    @property
    def s3(self) -> str:
        return f"http://127.0.0.1:{self.ports['S3_PORT']}"

    @property
    def gallery(self) -> str:
        return f"http://127.0.0.1:{self.ports['GALLERY_PORT']}/"

    def ready(self) -> None:
        wait_for(lambda: any("Local stack ready" in line for line in self.lines), 90, "the banner")
        # The banner is printed in two parts: wait for its last line too.
        wait_for(lambda: any("in a browser" in line for line in self.lines), 10, "the banner")


@contextmanager
def running_stack(env: dict[str, str] | None = None) -> Iterator[Stack]:
    """The stack on free ports, in a session of its own (as a terminal runs it), stopped
    with SIGTERM on the way out if the test has not stopped it."""
    ports = {name: free_port() for name in ("S3_PORT", "LAMBDA_PORT", "GALLERY_PORT")}
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.stack"],
        cwd=ROOT,
        env={**base, **(env or {}), **{k: str(v) for k, v in ports.items()}},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = Stack(process, ports)
    assert process.stdout is not None
    reader = threading.Thread(
        target=lambda: stack.lines.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        reader.join(timeout=10)
