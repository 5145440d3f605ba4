"""The memory model against measured peaks: bench/memory.py, in fresh processes.

Each measurement runs `pipeline.process` in a process of its own and reads what the
object added to its peak RSS (VmHWM); the handler's concurrency case reads the whole
process's peak, as Lambda counts it against the function's memory size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyvips

from bench import memory as bench_memory

ROOT = Path(__file__).resolve().parents[2]


def test_the_estimate_is_at_or_above_the_measured_peak_for_every_loader(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--quick", f"--json={tmp_path / 'm.json'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "m.json").read_text())["per_loader"]
    assert {row["variant"] for row in rows} == {v.name for v in bench_memory.VARIANTS}
    for row in rows:
        assert row["status"] == "processed", row
        assert row["peak_mb"] > 0, row
        assert row["estimate_mb"] >= row["peak_mb"], row
    assert "| avif |" in done.stdout


def _avif(tmp_path: Path, megapixels: float) -> Path:
    path = tmp_path / f"{megapixels}mp.avif"
    width, height = bench_memory.dimensions(megapixels)
    picture = bench_memory.picture(width, height)
    path.write_bytes(bytes(picture.heifsave_buffer(compression="av1", effort=0, Q=50)))
    return path


def test_four_large_avifs_at_once_wait_for_each_other_under_the_memory_size(tmp_path: Path):
    # Each takes ~240 MB to decode (~15 bytes a pixel): 4 at once took the process to
    # 990 MB before every decode took its estimate. With room for one at a time in the
    # budget, they take turns.
    path = _avif(tmp_path, 16)
    needed = bench_memory.run_measure(path)["estimate_mb"]
    memory_mb = int(256 + 1.5 * needed)

    job = {"memory_mb": memory_mb, "paths": [str(path)] * 4}
    result = bench_memory.run_worker(["--invoke", json.dumps(job)])

    assert [status for status, _ in result["outcomes"]] == ["processed"] * 4, result
    assert result["peak_mb"] < memory_mb, result


def test_an_object_that_could_never_fit_fails_with_both_numbers(tmp_path: Path):
    path = _avif(tmp_path, 4)

    job = {"memory_mb": 300, "paths": [str(path)]}
    result = bench_memory.run_worker(["--invoke", json.dumps(job)])

    [(status, reason)] = result["outcomes"]
    assert status == "failed"
    assert reason.startswith(f"s3://bench/images/0-{path.name} needs about ")
    assert "MB to decode; the function can give 44 MB (its memory size less 256 MB)" in reason
    assert pyvips.Image.new_from_file(str(path)).width == bench_memory.dimensions(4)[0]
