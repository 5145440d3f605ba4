"""Peak memory per decoder, against the model in `app/image/memory.py`: `python -m bench.memory`.

For each loader the function accepts (JPEG baseline and progressive, 4:2:0 and 4:4:4;
PNG plain and interlaced, 8-bit RGB and 16-bit RGBA; WebP still and animated; AVIF
8- and 10-bit; GIF still and animated; TIFF strips and tiles) and a few sizes up to
MAX_INPUT_PIXELS, one fresh process runs `pipeline.process` on the image with the
project's settings (defaults: 300,600,900 wide, OUTPUT_FORMAT source) and reports
what the object added to the process's peak RSS: VmHWM after it, less VmRSS before it
(the peak is reset first through /proc/self/clear_refs), after a warm-up on a small
image of the same kind, so that libraries, codec tables and thread pools are counted
once, in the runtime's reserve, not per object.

Then (not with --quick): what each output format adds per output pixel; four of the
worst objects at once, as one event's records run, in a process that imports the
handler with 1024 and 1769 MB of Lambda memory (the whole process's peak against the
memory size); and a few hundred small objects of every kind through one warm process
(its RSS after each invocation), then the worst mix in that warm process.

Images are made once per run into a temporary directory and removed after (about 3 of
the 8-10 minutes a full run takes here; --quick: 30 s). Smooth gradients, so that
100 MP PNGs stay under MAX_INPUT_BYTES. One animated WebP is a tiny file whose header
claims a large canvas (as a 144-byte WebP can claim 9999x9999): what its decoder holds
follows the canvas, not the file. Prints markdown; `--json PATH` also writes the numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
FULL_MP = (1, 4, 16, 100)
QUICK_MP = (1, 4)
TIMEOUT_S = 300


# --- images ----------------------------------------------------------------------------


def dimensions(megapixels: float) -> tuple[int, int]:
    """A 4:3 size of about `megapixels`, never above that many pixels (100 MP: at the limit)."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    return width, int(megapixels * 1e6 // width)


def picture(width: int, height: int, *, alpha: bool = False, deep: bool = False) -> pyvips.Image:
    """Smooth gradients, which every codec compresses well (100 MP PNGs stay under
    MAX_INPUT_BYTES): what a decoder holds is the bitmap, whatever the content."""
    x, y = pyvips.Image.xyz(width, height).bandsplit()
    bands = [x * (255 / width), y * (255 / height), (x + y) * (255 / (width + height))]
    if alpha:
        bands.append(255 - y * (128 / height))
    image = bands[0].bandjoin(bands[1:]).cast("uchar")
    if deep:
        return (image.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    return image.copy(interpretation="srgb")


def _animated(width: int, height: int, frames: int) -> pyvips.Image:
    """`frames` full frames of `picture`, stacked as libvips stacks animations."""
    image = picture(width, height)
    strip = pyvips.Image.arrayjoin(
        [image.rot180() if i % 2 else image for i in range(frames)], across=1
    ).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    return strip


def _gif(width: int, height: int, frames: int) -> bytes:
    """A GIF of `frames` full frames in 8x8 blocks of few colours, which quantise fast."""
    x, y = pyvips.Image.xyz(width, height).bandsplit()
    red, green = (x / 64).cast("uchar") * 8, (y / 64).cast("uchar") * 8
    image = red.bandjoin([green, (red + green) / 2]).cast("uchar").copy(interpretation="srgb")
    if frames > 1:
        image = pyvips.Image.arrayjoin(
            [image.invert() if i % 2 else image for i in range(frames)], across=1
        )
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "page-height", height)
    return bytes(image.gifsave_buffer(effort=1, dither=0))


def _ultra_hdr(width: int, height: int) -> bytes:
    """An Ultra HDR JPEG: the picture as HDR (linear, its light parts up to 4x SDR white),
    which libvips' JPEG save writes as an SDR base and a gain map (a quarter the size)."""
    hdr = picture(width, height).colourspace("scrgb") * 4
    return bytes(hdr.jpegsave_buffer(Q=85))


def _canvas_webp(width: int, height: int, frames: int) -> bytes:
    """A small animated WebP of `frames` frames whose VP8X chunk claims a `width`x`height` canvas."""
    small = picture(64, 48)
    strip = pyvips.Image.arrayjoin(
        [small.rot180() if i % 2 else small for i in range(frames)], across=1
    )
    strip = strip.copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 48)
    data = bytearray(strip.webpsave_buffer(lossless=True))
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


@dataclass(frozen=True)
class Variant:
    """One loader and its options; `make(width, height)` gives the file's bytes."""

    name: str
    make: Callable[[int, int], bytes]
    sizes: tuple[float, ...] = FULL_MP  # megapixels in a full run (--quick: QUICK_MP)


VARIANTS = [
    Variant("jpeg baseline 4:2:0", lambda w, h: picture(w, h).jpegsave_buffer(Q=85)),
    Variant(
        "jpeg baseline 4:4:4",
        lambda w, h: picture(w, h).jpegsave_buffer(Q=85, subsample_mode="off"),
    ),
    Variant(
        "jpeg progressive 4:2:0",
        lambda w, h: picture(w, h).jpegsave_buffer(Q=85, interlace=True, subsample_mode="on"),
    ),
    Variant(
        "jpeg progressive 4:4:4",
        lambda w, h: picture(w, h).jpegsave_buffer(Q=85, interlace=True, subsample_mode="off"),
    ),
    Variant("jpeg ultra hdr (gain map)", _ultra_hdr, sizes=(1, 4, 16, 48)),
    Variant("png 8-bit RGB", lambda w, h: picture(w, h).pngsave_buffer(compression=1)),
    Variant(
        "png 8-bit RGB interlaced",
        lambda w, h: picture(w, h).pngsave_buffer(compression=1, interlace=True),
    ),
    Variant(
        "png 16-bit RGBA",
        lambda w, h: picture(w, h, alpha=True, deep=True).pngsave_buffer(compression=1),
    ),
    Variant(
        "png 16-bit RGBA interlaced",
        lambda w, h: picture(w, h, alpha=True, deep=True).pngsave_buffer(
            compression=1, interlace=True
        ),
    ),
    Variant("webp lossy", lambda w, h: picture(w, h).webpsave_buffer(Q=80, effort=0)),
    Variant(
        "webp lossy RGBA", lambda w, h: picture(w, h, alpha=True).webpsave_buffer(Q=80, effort=0)
    ),
    Variant("webp lossless", lambda w, h: picture(w, h).webpsave_buffer(lossless=True, effort=0)),
    Variant(
        "webp lossless RGBA",
        lambda w, h: picture(w, h, alpha=True).webpsave_buffer(lossless=True, effort=0),
    ),
    Variant(
        "webp animated, 2 frames",
        lambda w, h: _animated(w, h, 2).webpsave_buffer(lossless=True, effort=0),
    ),
    Variant("webp animated, 3 small frames", lambda w, h: _canvas_webp(w, h, 3)),
    Variant(
        "avif",
        lambda w, h: picture(w, h).heifsave_buffer(compression="av1", effort=0, Q=50),
        sizes=(1, 4, 16, 48, 100),
    ),
    Variant(
        "avif 10-bit RGBA",
        lambda w, h: picture(w, h, alpha=True).heifsave_buffer(
            compression="av1", effort=0, Q=50, bitdepth=10
        ),
        sizes=(1, 4, 16, 48),
    ),
    Variant("gif", lambda w, h: _gif(w, h, 1)),
    Variant("gif animated, 2 frames", lambda w, h: _gif(w, h, 2), sizes=(1, 4, 16, 48)),
    Variant(
        "tiff strips",
        lambda w, h: picture(w, h).tiffsave_buffer(compression="deflate", predictor="horizontal"),
    ),
    Variant(
        "tiff tiles",
        lambda w, h: picture(w, h).tiffsave_buffer(
            compression="deflate", predictor="horizontal", tile=True
        ),
    ),
]


def make_images(
    directory: Path, variants: list[Variant], quick: bool
) -> dict[tuple[str, float], Path]:
    """Every (variant, megapixels) file, made once into `directory`."""
    made = {}
    for variant in variants:
        for megapixels in QUICK_MP if quick else variant.sizes:
            width, height = dimensions(megapixels)
            name = variant.name.replace(" ", "_").replace(",", "").replace(":", "")
            path = directory / f"{name}-{megapixels}mp"
            path.write_bytes(bytes(variant.make(width, height)))
            made[(variant.name, megapixels)] = path
    return made


# --- the measured process --------------------------------------------------------------


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def reset_peak() -> int:
    """Reset VmHWM to the current RSS (Linux >= 4.0) and return that RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status()["VmRSS"]


def peak() -> int:
    return _status()["VmHWM"]


class MemoryStore:
    """A store that lives in memory: `pipeline.process` reads and writes here."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.written: dict[str, int] = {}

    def head(self, ref: Any) -> Any:
        from app.aws.objects import Head

        return Head(len(self.objects[ref.key]), "etag", "application/octet-stream", {})

    def open(self, ref: Any, head: Any) -> Any:
        from app.aws.objects import Download

        data = self.objects[ref.key]
        return Download(ref, len(data), "etag", "application/octet-stream", {}, io.BytesIO(data))

    def existing(self, bucket: str, key: str) -> None:
        return None

    def delete(self, bucket: str, key: str, **condition: object) -> None:
        self.written.pop(key, None)

    def put(self, bucket: str, key: str, data: bytes, **attributes: object) -> None:
        self.written[key] = len(data)


def measure(path: Path) -> dict[str, Any]:
    """In this (fresh) process: warm up on a small image of the same kind, then what one
    `pipeline.process` of `path` adds to the peak RSS, beside the model's estimate."""
    from app.config import settings as config
    from app.image import imaging, memory
    from app.model import ObjectRef
    from app.renditions import pipeline

    imaging.configure_libvips()
    settings = config.load(os.environ)
    data = path.read_bytes()
    header = imaging.read_header(pyvips.Source.new_from_memory(data), 10**10, path.name)
    small = pyvips.Image.new_from_buffer(data, "", access="sequential")
    warm_bytes = bytes(small.thumbnail_image(64).write_to_buffer(_suffix(header.kind)))
    store = MemoryStore({"images/warm": warm_bytes, "images/image": data})
    pipeline.process(ObjectRef("bench", "images/warm", len(warm_bytes)), settings, store)
    del small
    fmts = imaging.output_formats(header, settings.output_formats)
    before = reset_peak()
    start = time.perf_counter()
    outcome = pipeline.process(ObjectRef("bench", "images/image", len(data)), settings, store)
    seconds = time.perf_counter() - start
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "pixels": header.width * header.height,
        "frames": header.pages,
        "bytes": len(data),
        "base_mb": before / MB,
        "peak_mb": (peak() - before) / MB,
        "estimate_mb": memory.estimate(header, len(data), settings.specs, fmts) / MB,
        "seconds": seconds,
    }


def _suffix(kind: str) -> str:
    return {"heif": ".avif", "jpeg": ".jpg", "uhdr": ".jpg", "tiff": ".tif"}.get(kind, f".{kind}")


def run_measure(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`measure(path)` in a fresh process, with the image's environment."""
    return run_worker(["--measure", str(path)], env)


def per_loader(made: dict[tuple[str, float], Path]) -> tuple[str, list[dict[str, Any]]]:
    """Measure every image, each in a fresh process; a markdown table and the rows."""
    rows = []
    for (name, _), path in made.items():
        try:
            result = run_measure(path)
        except subprocess.CalledProcessError as error:
            last = (error.stderr or "").strip().splitlines()[-1:] or ["no detail"]
            result = {"status": "error", "reason": last[0]}
        rows.append({"variant": name, "file": path.name, **result})
        print(_row(rows[-1]), file=sys.stderr, flush=True)
    lines = [
        "| loader | MP | frames | file MB | peak MB | estimate MB | estimate / peak | s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(row) for row in rows),
    ]
    return "\n".join(lines), rows


def _row(row: dict[str, Any]) -> str:
    if row["status"] == "error":
        return f"| {row['variant']} | {row['file']} | failed: {row['reason']} | | | | | |"
    ratio = row["estimate_mb"] / row["peak_mb"] if row["peak_mb"] > 0 else math.inf
    note = "" if row["status"] == "processed" else f" ({row['status']}: {row['reason']})"
    return (
        f"| {row['variant']}{note} | {row['pixels'] / 1e6:.1f} | {row['frames']} "
        f"| {row['bytes'] / 1e6:.2f} | {row['peak_mb']:.0f} | {row['estimate_mb']:.0f} "
        f"| {ratio:.2f} | {row['seconds']:.1f} |"
    )


def fits(rows: list[dict[str, Any]]) -> str:
    """Per variant, `a + b * pixels` from this run: b the least-squares slope, a the
    smallest intercept that leaves every measured peak at or under the line."""
    lines = ["| loader | a MB | b bytes/pixel |", "|---|---:|---:|"]
    by_variant: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row["status"] == "processed":
            by_variant.setdefault(row["variant"], []).append((row["pixels"], row["peak_mb"] * MB))
    for name, points in by_variant.items():
        if len(points) < 2:
            continue
        n = len(points)
        mean_x = sum(x for x, _ in points) / n
        mean_y = sum(y for _, y in points) / n
        var = sum((x - mean_x) ** 2 for x, _ in points)
        slope = max(0.0, sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0)
        intercept = max(y - slope * x for x, y in points)
        lines.append(f"| {name} | {intercept / MB:.0f} | {slope:.2f} |")
    return "\n".join(lines)


ENCODE_INPUT = ("png 8-bit RGB", 16)  # streams, so what is left is the resize and encode
WIDE = 4000  # a RESIZE_WIDTHS well beyond the default 900


def encoders(made: dict[tuple[str, float], Path]) -> tuple[str, dict[str, float]]:
    """What each output format adds per output pixel: one 16 MP input to a single
    WIDE-wide copy, against the default widths; GIF from a GIF (OUTPUT_FORMAT source)."""
    per_pixel: dict[str, float] = {}
    lines = [
        f"| output format | peak MB, default widths | peak MB, {WIDE} wide | bytes per output pixel |",
        "|---|---:|---:|---:|",
    ]
    for fmt in ("jpeg", "png", "webp", "avif", "gif"):
        path = made.get(("gif", 16) if fmt == "gif" else ENCODE_INPUT)
        if path is None:
            continue
        setting = "source" if fmt == "gif" else fmt
        base = run_measure(path, {"OUTPUT_FORMAT": setting})
        wide = run_measure(path, {"OUTPUT_FORMAT": setting, "RESIZE_WIDTHS": str(WIDE)})
        width, height = dimensions(16)
        out = WIDE * round(height * WIDE / width)
        per_pixel[fmt] = (wide["peak_mb"] - base["peak_mb"]) * MB / out
        lines.append(
            f"| {fmt} | {base['peak_mb']:.0f} | {wide['peak_mb']:.0f} | {per_pixel[fmt]:.1f} |"
        )
    return "\n".join(lines), per_pixel


def invoke(job: dict[str, Any]) -> dict[str, Any]:
    """In this (fresh) process: the handler's module, as the runtime imports it, with
    `memory_mb` of Lambda memory; `warm_rounds` invocations of OBJECT_CONCURRENCY
    objects taken in turn from `warm_paths` (each on a new thread pool, as each
    invocation makes its own), the RSS after each; then `paths` at once, as one event's
    records are (OBJECT_CONCURRENCY threads sharing the budget). The peak is the whole
    process's, as Lambda counts it against the memory size."""
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(job["memory_mb"])
    from concurrent.futures import ThreadPoolExecutor

    from app import handler
    from app.model import ObjectRef, Outcome
    from app.renditions import pipeline

    def at_once(refs: list[ObjectRef]) -> list[Outcome]:
        with ThreadPoolExecutor(max_workers=handler.settings.object_concurrency) as pool:
            return list(
                pool.map(
                    lambda r: pipeline.process(r, handler.settings, store, None, handler.budget),
                    refs,
                )
            )

    warm = [Path(p) for p in job.get("warm_paths", [])] or [None]
    small = bytes(picture(64, 48).jpegsave_buffer())
    paths = [Path(p) for p in job["paths"]]
    objects = {
        f"images/{i}-{p.name if p else 'small.jpg'}": p.read_bytes() if p else small
        for i, p in enumerate([*paths, *warm])
    }
    store = MemoryStore(objects)
    refs = [ObjectRef("bench", key, len(data)) for key, data in objects.items()]
    mixed, warming = refs[: len(paths)], refs[len(paths) :]
    at_once(warming[:1])  # libraries and codec tables: not per object
    rss: list[float] = []
    statuses: dict[str, int] = {}
    for round_ in range(job.get("warm_rounds", 0)):
        take = handler.settings.object_concurrency
        chosen = [warming[(round_ * take + i) % len(warming)] for i in range(take)]
        for outcome in at_once(chosen):
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        rss.append(_status()["VmRSS"] / MB)
    start = time.perf_counter()
    outcomes = at_once(mixed)
    return {
        "memory_mb": job["memory_mb"],
        "peak_mb": peak() / MB,
        "seconds": time.perf_counter() - start,
        "outcomes": [[o.status, o.reason] for o in outcomes],
        "warm_rss_mb": rss,
        "warm_statuses": statuses,
    }


MIXES = (  # (what, [(variant, megapixels)] * objects): the worst inputs the limits let in
    ("4 AVIF, 48 MP", [("avif", 48)] * 4),
    ("4 animated WebP, 100 MP canvas", [("webp animated, 3 small frames", 100)] * 4),
    ("4 progressive JPEG 4:4:4, 100 MP", [("jpeg progressive 4:4:4", 100)] * 4),
    ("4 interlaced 16-bit RGBA PNG, 100 MP", [("png 16-bit RGBA interlaced", 100)] * 4),
    (
        "one each: AVIF 48 MP, animated WebP, progressive JPEG, interlaced PNG (100 MP)",
        [
            ("avif", 48),
            ("webp animated, 2 frames", 100),
            ("jpeg progressive 4:4:4", 100),
            ("png 16-bit RGBA interlaced", 100),
        ],
    ),
)
MEMORY_SIZES = (1024, 1769)


def run_worker(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m bench.memory ARGS` in a fresh process, with the image's environment."""
    from devtools.image_env import image_env
    from devtools.s3server import FAKE_AWS_ENV

    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", *args],
        env={
            **os.environ,
            **FAKE_AWS_ENV,
            **image_env(),
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "ERROR",
            **(env or {}),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def mixes(made: dict[tuple[str, float], Path]) -> tuple[str, list[dict[str, Any]]]:
    """Each of MIXES at each of MEMORY_SIZES: the process's peak against the memory size."""
    rows = []
    lines = [
        "| objects at once | memory MB | peak MB | under? | s | outcomes |",
        "|---|---:|---:|---|---:|---|",
    ]
    for what, members in MIXES:
        paths = [made[m] for m in members if m in made]
        if len(paths) < len(members):
            continue
        for memory_mb in MEMORY_SIZES:
            job = {"memory_mb": memory_mb, "paths": [str(p) for p in paths]}
            result = run_worker(["--invoke", json.dumps(job)])
            rows.append({"mix": what, **result})
            told = _told(result["outcomes"])
            under = "yes" if result["peak_mb"] < memory_mb else "**NO**"
            lines.append(
                f"| {what} | {memory_mb} | {result['peak_mb']:.0f} | {under} "
                f"| {result['seconds']:.1f} | {told} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines), rows


WORST = MIXES[-1]  # what a warm process runs at the end


def warm_report(made: dict[tuple[str, float], Path], rounds: int) -> tuple[str, dict[str, Any]]:
    """`rounds` invocations of small objects of every kind through one process, at each
    memory size; then the worst mix in that warm process."""
    warm_paths = [str(path) for (_, megapixels), path in made.items() if megapixels == 1]
    worst = [str(made[m]) for m in WORST[1] if m in made]
    lines = []
    results = []
    for memory_mb in MEMORY_SIZES:
        job = {
            "memory_mb": memory_mb,
            "warm_rounds": rounds,
            "warm_paths": warm_paths,
            "paths": worst if len(worst) == len(WORST[1]) else [],
        }
        result = run_worker(["--invoke", json.dumps(job)])
        results.append(result)
        rss = result["warm_rss_mb"]
        tenth = max(1, len(rss) // 10)
        objects = sum(result["warm_statuses"].values())
        lines.append(
            f"- {memory_mb} MB: {objects} objects ({len(warm_paths)} kinds at 1 MP, "
            f"{rounds} invocations of {objects // max(1, rounds)}) through one process: "
            f"RSS {rss[0]:.0f} MB after the first invocation, {rss[tenth - 1]:.0f} after "
            f"{tenth}, {max(rss):.0f} at most, {rss[-1]:.0f} after the last; over the last "
            f"90%: {rss[-1] - rss[tenth - 1]:+.0f} MB "
            f"({', '.join(f'{n} {s}' for s, n in result['warm_statuses'].items())})."
        )
        if result["outcomes"]:
            under = "under" if result["peak_mb"] < memory_mb else "**OVER**"
            lines[-1] += (
                f" Then {WORST[0]}: the process's peak {result['peak_mb']:.0f} MB, {under} "
                f"{memory_mb} ({_told(result['outcomes'])})."
            )
    return "\n".join(lines), {"runs": results}


def _told(outcomes: list[list[str]]) -> str:
    """Outcomes counted by status and reason (less the object's name)."""
    counts: dict[str, int] = {}
    for status, reason in outcomes:
        why = reason.split(" ", 1)[-1] if reason else ""
        label = status if status == "processed" else f"{status}: ... {why}"
        counts[label] = counts.get(label, 0) + 1
    return "; ".join(f"{n} {label}" for label, n in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_MP} MP, per loader only"
    )
    parser.add_argument("--only", help="variants whose name contains one of these (a,b,...)")
    parser.add_argument(
        "--sections", default="loaders,encoders,mixes,warm", help="which sections to run"
    )
    parser.add_argument(
        "--rounds", type=int, default=100, help="warm-process invocations (default 100)"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--invoke", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the workers: one JSON line each
        print(json.dumps(measure(args.measure)))
        return 0
    if args.invoke:
        print(json.dumps(invoke(json.loads(args.invoke))))
        return 0

    wanted = args.only.split(",") if args.only else [""]
    variants = [v for v in VARIANTS if any(text in v.name for text in wanted)]
    start = time.perf_counter()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        made = make_images(Path(tmp), variants, args.quick)
        print(f"(images made in {time.perf_counter() - start:.0f} s)", file=sys.stderr)
        for title, section in sections(made, args):
            print(f"#### {title}\n\n{section(report)}\n", flush=True)
    print(f"({time.perf_counter() - start:.0f} s in all)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


Section = Callable[[dict[str, Any]], str]


def sections(
    made: dict[tuple[str, float], Path], args: argparse.Namespace
) -> list[tuple[str, Section]]:
    """The report's sections, each filling `report` as it runs."""

    def loaders(report: dict[str, Any]) -> str:
        table, report["per_loader"] = per_loader(made)
        return (
            table
            + "\n\nFitted from this run, peak = a + b * pixels:\n\n"
            + fits(report["per_loader"])
        )

    def encode(report: dict[str, Any]) -> str:
        table, report["encoders"] = encoders(made)
        return table

    def at_once(report: dict[str, Any]) -> str:
        table, report["mixes"] = mixes(made)
        return table

    def warm_process(report: dict[str, Any]) -> str:
        text, report["warm"] = warm_report(made, args.rounds)
        return text

    every = {
        "loaders": ("Peak memory per loader: what one object adds to a warm process", loaders),
        "encoders": ("What encoding adds per output pixel", encode),
        "mixes": ("Objects at once, as one event's records run: the process's peak", at_once),
        "warm": ("A warm process after many objects", warm_process),
    }
    names = ["loaders"] if args.quick else args.sections.split(",")
    return [every[name] for name in names]


if __name__ == "__main__":
    raise SystemExit(main())
