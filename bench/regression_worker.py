"""One revision's pipeline on one photo, in a fresh process (run by `bench/regression.py`).

    python bench/regression_worker.py ROOT PHOTO OUT RUNS

Imports `app` from ROOT (a revision's tree), then runs its command line,
`python -m app resize PHOTO --out OUT`, the code path every revision since the local
CLI has: the first time (one-time costs included), then RUNS times more. Prints one
JSON line: CPU and wall milliseconds of the import, the first run and each later run,
peak RSS, and the files the last run wrote. Only the standard library is imported
before `app`, so that nothing of another revision is loaded first.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    root, photo, out, runs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    sys.path[0] = root  # this script's own folder (bench/) out of the way: ROOT's `app`
    cpu, wall = time.process_time(), time.perf_counter()
    from app.__main__ import main as cli  # here: the import is measured

    imported = _since(cpu, wall)
    loaded = sorted(name for name in sys.modules if name == "app" or name.startswith("app."))

    def once() -> tuple[float, float]:
        said = io.StringIO()
        cpu, wall = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(said):
            status = cli(["resize", photo, "--out", str(out)])
        taken = _since(cpu, wall)
        if status != 0:
            raise SystemExit(f"{root}: exit {status}: {said.getvalue().strip()}")
        return taken

    first = once()
    timed = [once() for _ in range(runs)]
    written = {p.name: p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
    print(
        json.dumps(
            {
                "import_cpu_ms": imported[0],
                "first_cpu_ms": first[0],
                "first_wall_ms": first[1],
                "cpu_ms": [cpu for cpu, _ in timed],
                "wall_ms": [wall for _, wall in timed],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "modules": loaded,
                "written": written,
            }
        )
    )


def _since(cpu: float, wall: float) -> tuple[float, float]:
    """CPU (every thread of the process) and wall milliseconds since `cpu`, `wall`."""
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
    else:
        main()
