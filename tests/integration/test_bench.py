"""The benchmark still runs and checks what it claims to (not how fast: that is its report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
