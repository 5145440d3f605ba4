"""Where the project's time goes: `python -m bench.stages [IMAGE] [--repeat 15]`.

Each stage of the pipeline, alone, on one core (pinned, with `VIPS_CONCURRENCY=1`, as
`scripts/bench.sh --stages` runs it), best CPU milliseconds of
`--repeat` interleaved rounds (noise only ever adds). The stages add up to about the whole.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyvips

from app import imaging
from bench import images, workers

WIDTHS = sorted(workers.WIDTHS, reverse=True)  # the largest first, as it is decoded


def best_ms(stages: list[tuple[str, Callable[[], Any]]], rounds: int) -> list[tuple[str, float]]:
    """Each stage's best CPU milliseconds, in interleaved rounds (one run of every stage a
    round), so that a burst of noise on the machine hits every stage alike."""
    for _, action in stages:
        action()  # warm-up
    best = [float("inf")] * len(stages)
    for _ in range(rounds):
        for i, (_, action) in enumerate(stages):
            start = time.process_time()
            action()
            best[i] = min(best[i], time.process_time() - start)
    return [(name, ms * 1000) for (name, _), ms in zip(stages, best, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages")
    parser.add_argument("image", nargs="?", type=Path, default=images.CORPUS / images.BASE)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    data = args.image.read_bytes()
    imaging.configure_libvips()
    specs = tuple(imaging.SizeSpec(w) for w in WIDTHS)

    def source() -> pyvips.Source:
        return imaging.stream_source(io.BytesIO(data).read)

    header = imaging.read_header(source(), 10**10, "bench")
    big = max(s.fit(header.width, header.height) for s in specs)
    shrink = imaging.jpeg_shrink(header, *big) if header.kind == "jpeg" else 1
    decoded = imaging.decode(source(), header, specs, "bench", flatten=True)
    # Each width's pixels, as the pipeline resizes them: what each encode starts from.
    sizes = {w: imaging.SizeSpec(w).fit(header.width, header.height) for w in WIDTHS}
    sized = {w: imaging._resize(decoded, *sizes[w]).copy_memory() for w in WIDTHS[1:]}
    sized[WIDTHS[0]] = decoded

    def load_only(streamed: bool = False) -> None:
        loaded = source() if streamed else pyvips.Source.new_from_memory(data)
        options = {"shrink": shrink} if header.kind == "jpeg" else {}
        pyvips.Image.new_from_source(loaded, "", access="sequential", **options).copy_memory()

    def header_only() -> None:
        imaging.read_header(source(), 10**10, "bench")

    stages: list[tuple[str, Callable[[], Any]]] = [
        ("read the header (pixel limit, orientation)", header_only),
        (f"decode at 1/{shrink} from bytes in memory ({header.width // shrink} wide)", load_only),
        (
            "the same decode, streamed from read() calls (libvips reads 4 KB at a time)",
            lambda: load_only(streamed=True),
        ),
        (
            f"the same, streamed, plus the reduce to {big[0]} (`imaging.decode`)",
            lambda: imaging.decode(source(), header, specs, "b", flatten=True),
        ),
    ]
    for w in WIDTHS[1:]:
        stages.append(
            (
                f"resize {big[0]} -> {w}",
                lambda s=sizes[w]: imaging._resize(decoded, *s).copy_memory(),
            )
        )
    for w, image in sorted(sized.items(), reverse=True):
        stages.append(
            (
                f"encode {w} wide, q{workers.QUALITY}, Huffman-optimised",
                lambda i=image: imaging._encode(i, "jpeg", workers.QUALITY),
            )
        )
        stages.append(
            (
                f"encode {w} wide, q{workers.QUALITY}, standard Huffman tables",
                lambda i=image: i.jpegsave_buffer(Q=workers.QUALITY, keep="none"),
            )
        )
    stages.append(
        (
            "**the whole pipeline** (`pipeline.process`, bytes in memory)",
            workers.project(data, list(WIDTHS)),
        )
    )
    rows = best_ms(stages, args.repeat)
    print(f"#### Where the time goes: {args.image.name}, one core, best of {args.repeat}\n")
    print("| stage | CPU ms |\n|---|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
