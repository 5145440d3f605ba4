"""Which DCT scale for a JPEG: the smallest that still has enough pixels, or the next one?

`python -m bench.dctscale [--set tune|report|both] [--rounds N]`, one core. For every
JPEG of the set, the project's decode and three copies (300, 600, 900 wide, q80) are
made both ways, interleaved, in this one process: at the plain scale (the smallest DCT
scale with enough pixels, as Pillow's `draft()` takes) and at the next, finer one.
Reported: the reduce the plain scale leaves, CPU ms of each (best of the rounds), and
PSNR at each width against the full-precision reference (bench/quality.py).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from app.image import imaging
from app.image.imaging import Header, SizeSpec
from bench import images
from bench.quality import Reference, check

WIDTHS = (300, 600, 900)


def plain(header: Header, width: int, height: int) -> int:
    """The smallest DCT scale that still decodes `width`x`height` pixels."""
    shrink = 8
    while shrink > 1 and (header.width // shrink < width or header.height // shrink < height):
        shrink //= 2
    return shrink


def run(data: bytes, shrink: int) -> tuple[float, list[bytes]]:
    """CPU ms and the copies, with the DCT scale forced to 1/`shrink`."""
    real = imaging.jpeg_shrink
    imaging.jpeg_shrink = lambda header, width, height: shrink  # type: ignore[assignment]
    try:
        start = time.process_time()
        source = imaging.stream_source(io.BytesIO(data).read)
        header = imaging.read_header(source, 100_000_000, "bench")
        specs = tuple(SizeSpec(w) for w in WIDTHS)
        decoded = imaging.decode(source, header, specs, "bench", flatten=True)
        copies = [imaging.render(decoded, header, s, "jpeg", 80).data for s in specs]
        return (time.process_time() - start) * 1000, copies
    finally:
        imaging.jpeg_shrink = real  # type: ignore[assignment]


def measure(path: Path, rounds: int) -> str:
    data = path.read_bytes()
    header = imaging.read_header(imaging.stream_source(io.BytesIO(data).read), 10**9, "x")
    largest = SizeSpec(max(WIDTHS)).fit(header.width, header.height)
    coarse = plain(header, *largest)
    left = min(header.width / largest[0], header.height / largest[1]) / coarse
    if coarse == 1:
        return f"| {path.name} | full decode | | | | |"
    times: dict[int, list[float]] = {coarse: [], coarse // 2: []}
    copies: dict[int, list[bytes]] = {}
    for _ in range(rounds):
        for shrink in times:
            ms, copies[shrink] = run(data, shrink)
            times[shrink].append(ms)
    reference = Reference(path)
    psnr = {
        s: [check(reference, w, c)[1] for w, c in zip(WIDTHS, copies[s], strict=True)]
        for s in times
    }
    fine = coarse // 2
    gain = "/".join(f"{b - a:+.2f}" for a, b in zip(psnr[coarse], psnr[fine], strict=True))
    return (
        f"| {path.name} | 1/{coarse} leaves {left:.2f}x | {min(times[coarse]):.0f} "
        f"| {min(times[fine]):.0f} ({min(times[fine]) / min(times[coarse]):.2f}x) "
        f"| {'/'.join(f'{p:.2f}' for p in psnr[coarse])} | {gain} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dctscale")
    parser.add_argument("--set", choices=("tune", "report", "both", "corpus"), default="tune")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    imaging.configure_libvips()
    halves = ["tune", "report"] if args.set == "both" else [args.set]
    print(
        "| image | plain scale | CPU ms plain | CPU ms next scale | PSNR plain 300/600/900 "
        "| next scale's gain dB |"
    )
    print("|---|---|---:|---:|---|---|")
    for half in halves:
        paths = images.full() if half == "corpus" else images.variants(half)
        for path in paths:
            if path.suffix == ".jpg":
                print(measure(path, args.rounds), flush=True)


if __name__ == "__main__":
    main()
