"""What a second core buys: `python -m bench.cores IMAGE OBJECTS` (run by extras).

Runs OBJECTS copies of IMAGE through the pipeline at once, as one event's records run
(`OBJECT_CONCURRENCY` threads), and prints the median wall milliseconds of a few rounds
as one JSON line. The parent pins it to one CPU (with `VIPS_CONCURRENCY=1`) or not.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.workers import WIDTHS, project

ROUNDS = 5


def main() -> None:
    image, objects = Path(sys.argv[1]), int(sys.argv[2])
    data = image.read_bytes()
    runs = [project(data, list(WIDTHS)) for _ in range(objects)]  # one store each
    with ThreadPoolExecutor(max_workers=objects) as pool:
        list(pool.map(lambda run: run(), runs))  # warm-up
        walls = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            list(pool.map(lambda run: run(), runs))
            walls.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"wall_ms": statistics.median(walls)}))


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
    else:
        main()
