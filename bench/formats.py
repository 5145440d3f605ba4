"""Each output format's cost at equal perceptual quality: `python -m bench.formats`.

`scripts/bench.sh --formats` runs it on one core (pinned, `VIPS_CONCURRENCY=1`):

1. The curve: every photo decoded and sized as the pipeline does (`imaging.decode`,
   `imaging.sized`), then each width encoded as JPEG, WebP and AVIF over a sweep of
   qualities: encode CPU time, bytes, and the SSIMULACRA2 score of the copy against the
   pixels it was encoded from (the `ssimulacra2` package, a NumPy port of libjxl's tool).
2. Equal quality: per photo and width, the WebP and AVIF quality whose score equals
   JPEG's at each JPEG quality (linear between sweep points), and their bytes there.
   The medians are the table `app/image/formats.py` maps QUALITY through.
3. Effort: WebP's and AVIF's encoder effort swept at that quality; bytes compared at
   equal score (moved along the quality curve's local slope), with CPU; the effort
   chosen is the cheapest within 3% of the next one's bytes (`chosen_effort`).
4. The whole set (JPEG+WebP+AVIF at each width) from a 20 MP photo through the
   pipeline (`pipeline.process`, one decode) against the JPEG-only set, and sharp
   making the same set (`bench/node/sharp_formats.mjs`), in interleaved rounds, each
   contender in a process of its own on the same core.

Targets (issue 15; reported, never asserted): AVIF >= 30% and WebP >= 20% smaller than
JPEG at equal score; the whole set <= 2.0x the CPU of JPEG alone; sharp >= 1.5x slower.
Results: bench/results/formats.json and formats.md.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyvips

from app.image import formats, imaging
from app.image.fit import SizeSpec
from bench import images, workers
from bench.__main__ import machine_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NODE = ROOT / "bench" / "node"
WIDTHS = workers.WIDTHS
LOSSY = ("jpeg", "webp", "avif")
QUALITIES = {
    "jpeg": (30, 50, 65, 80, 90, 95),
    "webp": (30, 50, 65, 75, 85, 92, 100),
    "avif": (20, 35, 50, 60, 70, 80, 90),
}
EFFORTS = {"webp": (0, 1, 2, 3, 4, 5, 6), "avif": (0, 1, 2, 3, 4)}
QUICK_QUALITIES = {"jpeg": (50, 80, 95), "webp": (50, 80, 100), "avif": (30, 60, 90)}
QUICK_EFFORTS = {"webp": (1, 2), "avif": (1, 2)}
TARGETS = {"avif": 0.30, "webp": 0.20}  # smaller than JPEG at equal score, at least
SET_CPU_TARGET, SHARP_TARGET = 2.0, 1.5
TOLERANCE = 0.03  # an effort is worth its CPU while the next one saves more bytes than this


def score(reference: bytes, encoded: bytes) -> float:
    """SSIMULACRA2 of `encoded` against the PNG `reference` (100: identical; ~90: no
    visible loss at 1:1; ~70: high quality; ~50: medium)."""
    from ssimulacra2 import compute_ssimulacra2

    decoded = pyvips.Image.new_from_buffer(encoded, "").colourspace("srgb")
    return float(
        compute_ssimulacra2(
            io.BytesIO(reference), io.BytesIO(decoded.pngsave_buffer(compression=1))
        )
    )


def encoder(fmt: str, quality: int, effort: int | None) -> Callable[[pyvips.Image], bytes]:
    """The app's encoder for `fmt` (app/image/formats.py), at `effort` if given."""
    if effort is None or fmt == "jpeg":
        return lambda image: formats.encode(image, fmt, quality)
    if fmt == "webp":
        return lambda image: bytes(image.webpsave_buffer(Q=quality, keep="none", effort=effort))
    return lambda image: bytes(
        image.heifsave_buffer(Q=quality, keep="none", compression="av1", effort=effort)
    )


def timed(
    encode: Callable[[pyvips.Image], bytes], image: pyvips.Image, repeat: int
) -> tuple[bytes, float]:
    """The encoded bytes and the median CPU ms of up to `repeat` encodes (fewer when one
    takes over a second: noise is small beside it)."""
    times: list[float] = []
    data = b""
    while len(times) < repeat and sum(times) < 1000:
        start = time.process_time()
        data = encode(image)
        times.append((time.process_time() - start) * 1000)
    return data, statistics.median(times)


def sized(path: Path) -> dict[int, pyvips.Image]:
    """Each width's pixels as the pipeline hands them to its encoders."""
    data = path.read_bytes()
    specs = tuple(SizeSpec(w) for w in WIDTHS)
    header = imaging.read_header(pyvips.Source.new_from_memory(data), 10**10, path.name)
    decoded = imaging.decode(
        pyvips.Source.new_from_memory(data), header, specs, path.name, flatten=True
    )
    return {s.width: imaging.sized(decoded, header, s, "attention") for s in specs}


def measure(
    image: pyvips.Image, reference: bytes, fmt: str, quality: int, effort: int | None, repeat: int
) -> dict[str, Any]:
    data, cpu = timed(encoder(fmt, quality, effort), image, repeat)
    return {"bytes": len(data), "cpu_ms": cpu, "score": score(reference, data)}


def sweep(
    paths: list[Path], qualities: dict[str, tuple[int, ...]], repeat: int
) -> list[dict[str, Any]]:
    """Every photo x width x format x quality at the app's efforts."""
    points = []
    for path in paths:
        started = time.perf_counter()
        for width, image in sized(path).items():
            reference = bytes(image.pngsave_buffer(compression=1))
            for fmt in LOSSY:
                for quality in qualities[fmt]:
                    point = measure(image, reference, fmt, quality, None, repeat)
                    points.append(
                        {"image": path.name, "width": width, "format": fmt, "quality": quality}
                        | point
                    )
        print(f"  {path.name}: {time.perf_counter() - started:.0f} s", flush=True)
    return points


def crossing(xs: list[float], ys: list[float], y: float) -> float | None:
    """x where the rising curve (xs, ys) reaches y, linear between points; None outside it."""
    top = -math.inf
    rising = []
    for x, v in zip(xs, ys, strict=True):  # noise can dip a point: keep the curve rising
        top = max(top, v)
        rising.append((x, top))
    for (x0, y0), (x1, y1) in itertools.pairwise(rising):
        if y0 <= y <= y1:
            return x0 if y1 == y0 else x0 + (x1 - x0) * (y - y0) / (y1 - y0)
    return None


def curve(points: list[dict[str, Any]], image: str, width: int, fmt: str) -> list[dict[str, Any]]:
    return sorted(
        (
            p
            for p in points
            if (p["image"], p["width"], p["format"]) == (image, width, fmt) and "effort" not in p
        ),
        key=lambda p: p["quality"],
    )


def equal(points: list[dict[str, Any]], jpeg_quality: int) -> list[dict[str, Any]]:
    """Per photo and width: each format's quality and bytes at the score of JPEG at
    `jpeg_quality` (quality None: the score is outside the format's sweep)."""
    rows = []
    for image, width in sorted({(p["image"], p["width"]) for p in points}):
        [jpeg] = [p for p in curve(points, image, width, "jpeg") if p["quality"] == jpeg_quality]
        row: dict[str, Any] = {"image": image, "width": width, "score": jpeg["score"]}
        row["jpeg"] = {"quality": jpeg_quality, "bytes": jpeg["bytes"], "cpu_ms": jpeg["cpu_ms"]}
        for fmt in LOSSY[1:]:
            line = curve(points, image, width, fmt)
            scores = [p["score"] for p in line]
            quality = crossing([p["quality"] for p in line], scores, jpeg["score"])
            size = crossing([math.log(p["bytes"]) for p in line], scores, jpeg["score"])
            cpu = crossing([p["cpu_ms"] for p in line], scores, jpeg["score"])
            if quality is None and jpeg["score"] > max(scores):  # not reached: the top, capped
                quality = 100.0
            row[fmt] = {
                "quality": quality,
                "bytes": math.exp(size) if size is not None else None,
                "cpu_ms": cpu,
                "saved": 1 - math.exp(size) / jpeg["bytes"] if size is not None else None,
            }
        rows.append(row)
    return rows


def median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def slope(line: list[dict[str, Any]], at: float) -> float:
    """d ln(bytes) / d score of a quality curve near `at` (its two nearest points)."""
    near = sorted(line, key=lambda p: abs(p["score"] - at))[:2]
    (a, b) = sorted(near, key=lambda p: p["score"])
    if b["score"] == a["score"]:
        return 0.0
    return (math.log(b["bytes"]) - math.log(a["bytes"])) / (b["score"] - a["score"])


def effort_sweep(
    paths: list[Path],
    points: list[dict[str, Any]],
    quality: dict[str, int],
    efforts: dict[str, tuple[int, ...]],
    repeat: int,
) -> list[dict[str, Any]]:
    """WebP's and AVIF's efforts at `quality`; bytes at equal score (to the app's effort's
    score, along its quality curve's slope), CPU and bytes as ratios to the app's effort."""
    current = {"webp": formats.WEBP_EFFORT, "avif": formats.AVIF_EFFORT}
    rows = []
    for path in paths:
        for width, image in sized(path).items():
            reference = bytes(image.pngsave_buffer(compression=1))
            for fmt, levels in efforts.items():
                measured = {
                    e: measure(image, reference, fmt, quality[fmt], e, repeat) for e in levels
                }
                base = measured.get(current[fmt]) or measure(
                    image, reference, fmt, quality[fmt], current[fmt], repeat
                )
                k = slope(curve(points, path.name, width, fmt), base["score"])
                for e, m in measured.items():
                    at_equal = m["bytes"] * math.exp(k * (base["score"] - m["score"]))
                    rows.append(
                        {"image": path.name, "width": width, "format": fmt, "effort": e}
                        | m
                        | {
                            "bytes_ratio": at_equal / base["bytes"],
                            "cpu_ratio": m["cpu_ms"] / base["cpu_ms"],
                        }
                    )
    return rows


def chosen_effort(rows: list[dict[str, Any]], fmt: str) -> int:
    """The cheapest effort whose bytes at equal score are within TOLERANCE of the next
    effort's: beyond it, more CPU buys little."""
    levels = sorted({r["effort"] for r in rows if r["format"] == fmt})
    ratio = {
        e: statistics.median(
            r["bytes_ratio"] for r in rows if (r["format"], r["effort"]) == (fmt, e)
        )
        for e in levels
    }
    for effort, following in itertools.pairwise(levels):
        if ratio[effort] <= (1 + TOLERANCE) * ratio[following]:
            return effort
    return levels[-1]


# The whole set, in processes of their own --------------------------------------------


def project_set(data: bytes, fmts: str) -> Callable[[], int]:
    """`pipeline.process` making every width in `fmts`, on a store in memory; returns
    the bytes written."""
    from app.config.settings import load
    from app.model import ObjectRef
    from app.renditions import pipeline

    imaging.configure_libvips()
    settings = load(
        {
            "RESIZE_WIDTHS": ",".join(map(str, WIDTHS)),
            "OUTPUT_FORMATS": fmts,
            "MANIFEST": "off",  # the same in both sets: it is no part of a format's cost
        }
    )
    store = workers.MemoryStore(data)
    ref = ObjectRef("bench", "images/photo.jpg", len(data))

    def run() -> int:
        store.written.clear()
        outcome = pipeline.process(ref, settings, store)
        if outcome.status != "processed":
            raise SystemExit(f"project: {outcome.status}: {outcome.reason}")
        return sum(map(len, store.written.values()))

    return run


def worker(fmts: str, image: Path, runs: int) -> None:
    """One contender's process: a warm-up, then `runs` timed runs, as one JSON line."""
    run = project_set(image.read_bytes(), fmts)
    run()
    cpu = []
    for _ in range(runs):
        start = time.process_time()
        written = run()
        cpu.append((time.process_time() - start) * 1000)
    json.dump({"cpu_ms": cpu, "bytes": written}, sys.stdout)


def sharp_settings(defaults: bool) -> dict[str, Any]:
    """What sharp_formats.mjs makes: the app's qualities and efforts, or sharp's own
    defaults (JPEG q80; WebP q80, effort 4; AVIF q50, effort 4, 4:4:4)."""
    if defaults:
        return {"jpeg": {"quality": 80}, "webp": {}, "avif": {}}
    quality = formats.Quality.matching(80)
    # libvips' AVIF (and so the app's) is 4:2:0 below Q 90, sharp's always 4:4:4.
    chroma = "4:4:4" if quality.avif >= 90 else "4:2:0"
    return {
        "jpeg": {"quality": quality.jpeg},
        "webp": {"quality": quality.webp, "effort": formats.WEBP_EFFORT},
        "avif": {
            "quality": quality.avif,
            "effort": formats.AVIF_EFFORT,
            "chromaSubsampling": chroma,
        },
    }


def whole_set(image: Path, rounds: int, runs: int) -> dict[str, Any]:
    """CPU of each contender, interleaved over `rounds` (a process each per round)."""
    python = [sys.executable, "-m", "bench.formats", "--worker"]
    contenders: dict[str, list[str]] = {
        "project, JPEG only": [*python, "jpeg", str(image), str(runs)],
        "project, JPEG+WebP+AVIF": [*python, "jpeg,webp,avif", str(image), str(runs)],
    }
    skipped = None
    script = NODE / "sharp_formats.mjs"
    if shutil.which("node") and (NODE / "node_modules" / "sharp").is_dir():
        for label, defaults in (("sharp, same settings", False), ("sharp, its defaults", True)):
            options = json.dumps(sharp_settings(defaults))
            widths = ",".join(map(str, WIDTHS))
            contenders[label] = ["node", str(script), str(image), widths, options, str(runs)]
    else:
        skipped = "sharp is not installed (cd bench/node && npm ci)"
    env = os.environ | {"VIPS_CONCURRENCY": "1", "BENCH_ONE_CORE": "1", "PYTHONPATH": str(ROOT)}
    cpu: dict[str, list[float]] = {label: [] for label in contenders}
    written: dict[str, int] = {}
    for _ in range(rounds):
        for label, command in contenders.items():
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"{label} failed: {done.stderr.strip()[-400:]}")
            result = json.loads(done.stdout)
            cpu[label] += result["cpu_ms"]
            written[label] = result["bytes"]
    medians = {label: statistics.median(times) for label, times in cpu.items()}
    jpeg, every = medians["project, JPEG only"], medians["project, JPEG+WebP+AVIF"]
    return {
        "image": image.name,
        "cpu_ms": medians,
        "bytes": written,
        "set_ratio": every / jpeg,
        "sharp_ratio": {
            label: ms / every for label, ms in medians.items() if label.startswith("sharp")
        },
        "sharp_skipped": skipped,
        "runs": rounds * runs,
    }


# The report ---------------------------------------------------------------------------


def table_rows(equals: list[dict[str, Any]], widths: Iterable[int | None]) -> list[str]:
    out = []
    for width in widths:
        rows = [r for r in equals if width is None or r["width"] == width]
        cells = [str(width or "all"), f"{median(r['score'] for r in rows):.1f}"]
        for fmt in LOSSY[1:]:
            q = median(r[fmt]["quality"] for r in rows)
            saved = median(r[fmt]["saved"] for r in rows)
            cells += [
                f"{q:.0f}" if q is not None else "-",
                f"{saved:.0%}" if saved is not None else "-",
            ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def report(result: dict[str, Any]) -> str:
    lines = [
        "### Formats: cost at equal quality",
        "",
        f"{result['machine']}; {result['date']}; one core, `VIPS_CONCURRENCY=1`. "
        f"Metric: SSIMULACRA2 (ssimulacra2 {result['metric_version']}). "
        f"{len(result['images'])} photos ({', '.join(result['sets'])}), widths "
        f"{', '.join(map(str, WIDTHS))}; medians over photos.",
        "",
        f"#### The curve (app efforts: WebP {result['efforts']['webp']}, AVIF {result['efforts']['avif']})",
        "",
        "| format | quality | score | KB | encode CPU ms (sum of widths) |",
        "|---|---:|---:|---:|---:|",
    ]
    points = result["points"]
    for fmt in LOSSY:
        for q in swept(result)[fmt]:
            sel = [p for p in points if (p["format"], p["quality"]) == (fmt, q)]
            by_image: dict[str, list[dict[str, Any]]] = {}
            for p in sel:
                by_image.setdefault(p["image"], []).append(p)
            lines.append(
                f"| {fmt} | {q} | {statistics.median(p['score'] for p in sel):.1f} | "
                f"{statistics.median(sum(p['bytes'] for p in ps) for ps in by_image.values()) / 1000:.1f} | "
                f"{statistics.median(sum(p['cpu_ms'] for p in ps) for ps in by_image.values()):.0f} |"
            )
    lines += [
        "",
        "#### Equal score to JPEG at QUALITY (medians; saved: bytes fewer than JPEG's)",
        "",
    ]
    for jq, equals in sorted(result["equal"].items(), key=lambda kv: int(kv[0])):
        lines += [
            f"JPEG q{jq}:",
            "",
            "| width | JPEG score | WebP q | WebP saved | AVIF q | AVIF saved |",
            "|---|---:|---:|---:|---:|---:|",
            *table_rows(equals, [*WIDTHS, None]),
            "",
        ]
    at80 = result["equal"].get("80") or []
    if at80:
        lines += ["Targets at QUALITY=80:", ""]
        for fmt, target in TARGETS.items():
            saved = median(r[fmt]["saved"] for r in at80)
            met = saved is not None and saved >= target
            lines.append(
                f"- {fmt.upper()} >= {target:.0%} smaller than JPEG at equal score: "
                f"{saved:.0%}, {'met' if met else 'NOT met'}"
                if saved is not None
                else f"- {fmt.upper()}: not measured"
            )
        lines.append("")
    lines += [
        "#### The table app/image/formats.py maps QUALITY through",
        "",
        "| JPEG (QUALITY) | WebP | AVIF |",
        "|---:|---:|---:|",
        *(f"| {j} | {w} | {a} |" for j, w, a in result["table"]),
        "",
    ]
    if result["efforts_sweep"]:
        lines += [
            "#### Effort at equal score (ratios to the app's effort; medians over photos and widths)",
            "",
            "| format | effort | bytes | CPU | score |",
            "|---|---:|---:|---:|---:|",
        ]
        rows = result["efforts_sweep"]
        for fmt in ("webp", "avif"):
            for e in sorted({r["effort"] for r in rows if r["format"] == fmt}):
                sel = [r for r in rows if (r["format"], r["effort"]) == (fmt, e)]
                lines.append(
                    f"| {fmt} | {e} | {statistics.median(r['bytes_ratio'] for r in sel):.3f} | "
                    f"{statistics.median(r['cpu_ratio'] for r in sel):.2f}x | "
                    f"{statistics.median(r['score'] for r in sel):.1f} |"
                )
        lines += [
            "",
            f"Chosen by the rule (the cheapest effort within {TOLERANCE:.0%} of the next's "
            "bytes at equal score): "
            + ", ".join(f"{f} {e}" for f, e in result.get("chosen_effort", {}).items()),
            "",
        ]
    whole = result.get("whole_set")
    if whole:
        lines += [
            f"#### The whole set from {whole['image']} (300, 600, 900 wide; one core; "
            f"medians of {whole['runs']} runs)",
            "",
            "| contender | CPU ms | KB written | ratio |",
            "|---|---:|---:|---:|",
        ]
        every = whole["cpu_ms"]["project, JPEG+WebP+AVIF"]
        for label, ms in whole["cpu_ms"].items():
            lines.append(
                f"| {label} | {ms:.0f} | {whole['bytes'][label] / 1000:.0f} | {ms / every:.2f}x |"
            )
        met = whole["set_ratio"] <= SET_CPU_TARGET
        lines += [
            "",
            f"- The whole set in <= {SET_CPU_TARGET}x JPEG alone's CPU: "
            f"{whole['set_ratio']:.2f}x, {'met' if met else 'NOT met'}",
        ]
        for label, ratio in whole["sharp_ratio"].items():
            ok = ratio >= SHARP_TARGET
            lines.append(
                f"- {label} >= {SHARP_TARGET}x slower: {ratio:.2f}x, {'met' if ok else 'NOT met'}"
            )
        if whole["sharp_skipped"]:
            lines.append(f"- sharp: skipped, {whole['sharp_skipped']}")
        lines.append("")
    return "\n".join(lines)


def swept(result: dict[str, Any]) -> dict[str, list[int]]:
    return {
        fmt: sorted({p["quality"] for p in result["points"] if p["format"] == fmt}) for fmt in LOSSY
    }


def table(result_equal: dict[str, list[dict[str, Any]]]) -> list[tuple[int, int, int]]:
    """(JPEG, WebP, AVIF) qualities of equal score: medians over photos and widths,
    rounded, kept rising."""
    rows = []
    for jq, equals in sorted(result_equal.items(), key=lambda kv: int(kv[0])):
        webp = median(r["webp"]["quality"] for r in equals)
        avif = median(r["avif"]["quality"] for r in equals)
        if webp is None or avif is None:
            continue
        rows.append((int(jq), round(webp), round(avif)))
    for i in range(1, len(rows)):
        j, w, a = rows[i]
        rows[i] = (j, max(w, rows[i - 1][1]), max(a, rows[i - 1][2]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.formats", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="one small made photo, few points")
    parser.add_argument(
        "--set",
        choices=("corpus", "tune", "report", "both"),
        default="corpus",
        help="the photos: the corpus's (default), or one half of the variants, or both halves",
    )
    parser.add_argument("--image", type=Path, action="append", help="these photos instead")
    parser.add_argument("--repeat", type=int, default=3, help="encodes timed per point")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the whole set")
    parser.add_argument("--no-efforts", action="store_true", help="skip the effort sweep")
    parser.add_argument("--no-set", action="store_true", help="skip the whole set and sharp")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--worker", nargs=3, metavar=("FORMATS", "IMAGE", "RUNS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), int(args.worker[2]))
        return 0
    try:
        import ssimulacra2
    except ImportError:
        print("bench.formats: the ssimulacra2 package is missing (scripts/setup.sh installs it)")
        return 2

    imaging.configure_libvips()
    qualities = QUICK_QUALITIES if args.quick else QUALITIES
    efforts = QUICK_EFFORTS if args.quick else EFFORTS
    if args.image:
        paths, sets = list(args.image), ["given"]
    elif args.quick:
        paths, sets = images.quick(), ["quick"]
    else:
        sets = ["tune", "report"] if args.set == "both" else [args.set]
        paths = []
        for name in sets:
            if name == "corpus":
                found = sorted(images.CORPUS.glob("*.jpg")) if images.CORPUS.is_dir() else []
                if not found:
                    print(f"note: {images.CORPUS} is absent (CORPUS_DIR); a made photo stands in")
                paths += found or images.quick()
            else:
                paths += images.variants(name)
    result: dict[str, Any] = {
        "machine": machine_line(),
        "date": time.strftime("%Y-%m-%d"),
        "metric": "SSIMULACRA2",
        "metric_version": ssimulacra2.__version__,
        "sets": sets,
        "images": [p.name for p in paths],
        "efforts": {"webp": formats.WEBP_EFFORT, "avif": formats.AVIF_EFFORT},
        "targets": {"saved": TARGETS, "set_cpu": SET_CPU_TARGET, "sharp": SHARP_TARGET},
    }
    print(f"the curve: {len(paths)} photos", flush=True)
    result["points"] = sweep(paths, qualities, args.repeat)
    result["equal"] = {str(q): equal(result["points"], q) for q in qualities["jpeg"]}
    result["table"] = table(result["equal"])
    at80 = (
        result["equal"].get("80")
        or result["equal"][str(qualities["jpeg"][len(qualities["jpeg"]) // 2])]
    )
    matched = {
        fmt: round(median(r[fmt]["quality"] for r in at80) or formats.Quality.matching(80).of(fmt))
        for fmt in ("webp", "avif")
    }
    result["matched_at_80"] = matched
    if not args.no_set:
        big = images.quick()[0] if args.quick else (images.CORPUS / images.BASE)
        if not big.exists():
            big = images.MADE / "synthetic-20mp.jpg"
            if not big.exists():
                images.synthetic(6028, 3391).jpegsave(str(big), Q=90)
        print(f"the whole set: {big.name}, {args.rounds} rounds", flush=True)
        result["whole_set"] = whole_set(
            big, 1 if args.quick else args.rounds, 1 if args.quick else 2
        )
    result["efforts_sweep"] = []
    if not args.no_efforts:
        subset = paths[: max(1, min(len(paths), 3))]
        print(
            f"efforts: {len(subset)} photos at WebP q{matched['webp']}, AVIF q{matched['avif']}",
            flush=True,
        )
        result["efforts_sweep"] = effort_sweep(
            subset, result["points"], matched, efforts, args.repeat
        )
        result["chosen_effort"] = {f: chosen_effort(result["efforts_sweep"], f) for f in efforts}
    text = report(result)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "formats.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "formats.md").write_text(text + "\n")
    print("\n" + text)
    print(f"written: {args.results / 'formats.md'} and formats.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
