"""Start and stop moto's server: a real S3 (and SQS, IAM, ...) API over HTTP on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

# moto accepts any credentials; these keep boto3 from looking for real ones.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(
    port: int, *, host: str = "127.0.0.1", quiet: bool = True, timeout: float = 30
) -> Iterator[str]:
    """Run moto's server on `host`:`port`; yield its loopback URL; stop it on exit."""
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
        # AWS-managed IAM policies (AWSLambdaBasicExecutionRole, ...) exist, as in AWS.
        env={**os.environ, **FAKE_AWS_ENV, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        # Out of the terminal's process group: a Ctrl-C stops its user first, then it
        # (a delivery thread whose S3 server died under it printed a traceback).
        start_new_session=True,
    )
    try:
        _wait_ready(endpoint, process, timeout)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"moto server exited with status {process.returncode} "
                f"before answering on {endpoint} (is the port taken?)"
            )
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {endpoint} within {timeout:g} s")
