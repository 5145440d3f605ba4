"""The benchmark still runs and checks what it claims to (not how fast: that is its report)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.paced import paced_proxy

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_the_project_and_checks_every_output(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only=project,pillow-draft",
            f"--results={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    [results] = report["images"].values()
    assert set(results) == {"project, 1 core", "project, 2 cores", "Pillow draft() + resize"}
    for name, result in results.items():
        assert result["error"] is None, name
        assert result["sizes_ok"], name
        assert result["cpu_ms"] > 0 and result["peak_rss_mb"] > 0
        # A resize that keeps the picture: well above the ~10 dB of an unrelated image.
        assert min(result["psnr"].values()) > 30, name
    assert "| project, 1 core |" in (tmp_path / "latest.md").read_text()


def test_paced_proxy_forwards_every_byte_and_holds_responses_to_its_rate():
    body = bytes(range(256)) * 8192  # 2 MB
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with paced_proxy(server.server_address[:2], bytes_per_s=20e6) as url:
            start = time.perf_counter()
            request = urllib.request.Request(url, data=body[::-1], method="PUT")
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = response.read()
            elapsed = time.perf_counter() - start
    finally:
        server.shutdown()

    assert received == [body[::-1]] and answer == body
    assert elapsed >= 0.9 * len(body) / 20e6  # 2 MB at 20 MB/s cannot come back sooner
