"""The benchmark: `python -m bench` (or `scripts/bench.sh`, which installs the peers first).

Per image, in interleaved rounds, each contender runs in a fresh process
(`bench/workers.py`, `bench/node/sharp_worker.mjs`): one untimed warm-up, then
`--runs` timed runs of "bytes in memory -> one JPEG (q80) per width". Reported per
contender: median wall and CPU ms, peak RSS, CPU ratio to the limit and to the
project, and the quality of every output (right size, PSNR against a
full-precision reference). Then cold start, end to end with streaming, memory and
cost (`bench/extras.py`). Results go to `bench/results/latest.{json,md}`.

Targets are reported, never asserted: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import extras, images
from bench.quality import Reference, check
from bench.workers import WIDTHS
from devtools.image_env import image_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NODE = ROOT / "bench" / "node"


@dataclass(frozen=True)
class Contender:
    label: str
    worker: str  # a name in bench/workers.py, or "sharp"
    one_core: bool = True

    def command(self, image: Path, out: Path, runs: int) -> list[str]:
        widths = ",".join(map(str, WIDTHS))
        if self.worker == "sharp":
            script = str(NODE / "sharp_worker.mjs")
            return ["node", script, str(image), str(out), widths, str(runs)]
        return [
            sys.executable,
            "-m",
            "bench.workers",
            self.worker,
            str(image),
            str(out),
            f"--widths={widths}",
            f"--runs={runs}",
        ]


@dataclass
class Result:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    sizes_ok: bool = True
    psnr: dict[int, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def wall(self) -> float:
        return statistics.median(self.wall_ms)


def contenders(only: set[str] | None) -> list[Contender]:
    """Every contender this machine can run; says why the others are left out."""
    found = [
        Contender("limit (djpeg/pngtopnm + cjpeg)", "limit"),
        Contender("project, 1 core", "project"),
        Contender(f"project, {len(os.sched_getaffinity(0))} cores", "project", one_core=False),
        Contender("Pillow draft() + resize", "pillow-draft"),
        Contender("Pillow, AWS tutorial", "pillow-tutorial"),
        Contender("sharp", "sharp"),
    ]
    missing = {
        "limit": [t for t in ("djpeg", "cjpeg", "pngtopnm") if not shutil.which(t)],
        "sharp": []
        if (NODE / "node_modules" / "sharp").is_dir() and shutil.which("node")
        else ["node and bench/node/node_modules (npm ci in bench/node)"],
    }
    kept = []
    for contender in found:
        if only and contender.worker not in only:
            continue
        if missing.get(contender.worker):
            print(f"skipped {contender.label}: missing {', '.join(missing[contender.worker])}")
            continue
        kept.append(contender)
    return kept


def run_one(contender: Contender, image: Path, runs: int, out: Path) -> Result:
    """One fresh process, pinned or not; it reports its timings and peak RSS on stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if contender.worker == "project":
        env.update(image_env())  # the function runs with what its image sets
    cpus = sorted(os.sched_getaffinity(0))
    if contender.one_core:
        # Lambda at 1769 MB has one vCPU: one core, and libvips told so.
        env.update(VIPS_CONCURRENCY="1", BENCH_ONE_CORE="1", UV_THREADPOOL_SIZE="1")
    else:
        env.pop("VIPS_CONCURRENCY", None)

    def pin() -> None:
        os.sched_setaffinity(0, {cpus[-1]} if contender.one_core else set(cpus))

    process = subprocess.Popen(
        contender.command(image, out, runs),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        preexec_fn=pin,
    )
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        return Result(error=stderr.decode(errors="replace").strip().splitlines()[-1:][0])
    timings = json.loads(stdout)
    return Result(timings["wall_ms"], timings["cpu_ms"], peak_rss_mb=timings["peak_rss_mb"])


def bench_image(image: Path, chosen: list[Contender], rounds: int, runs: int) -> dict[str, Result]:
    results = {c.label: Result() for c in chosen}
    reference = Reference(image)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for round_ in range(rounds):
            # Interleaved: every contender once per round, so drift hits all alike.
            for contender in chosen:
                out = Path(tmp) / contender.worker / str(round_)
                one = run_one(contender, image, runs, out)
                result = results[contender.label]
                if one.error:
                    result.error = one.error
                    continue
                result.wall_ms += one.wall_ms
                result.cpu_ms += one.cpu_ms
                result.peak_rss_mb = max(result.peak_rss_mb, one.peak_rss_mb)
                for width in WIDTHS:
                    ok, psnr = check(reference, width, (out / f"{width}.jpg").read_bytes())
                    result.sizes_ok &= ok
                    result.psnr[width] = psnr
    return results


def table(image: Path, results: dict[str, Result], half: str | None = None) -> str:
    header = f"{image.name}: {_describe(image)}" + (f" [{half}]" if half else "")
    limit = next((r for k, r in results.items() if k.startswith("limit") and not r.error), None)
    project = results.get("project, 1 core")
    lines = [
        f"#### {header}",
        "",
        "| contender | wall ms | CPU ms | best CPU ms | peak RSS MB | x limit | x limit, best "
        "| x project | PSNR dB " + "/".join(map(str, WIDTHS)) + " | sizes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for label, r in results.items():
        if r.error:
            lines.append(f"| {label} | failed: {r.error} | | | | | | | | |")
            continue
        # Medians, and bests: on a noisy machine noise only ever adds, so the best runs
        # say what each contender costs when nothing else is running.
        to_limit = f"{r.cpu / limit.cpu:.2f}" if limit and r is not limit else ""
        to_best = f"{min(r.cpu_ms) / min(limit.cpu_ms):.2f}" if limit and r is not limit else ""
        to_project = (
            f"{r.cpu / project.cpu:.2f}"
            if project and not project.error and r is not project
            else ""
        )
        rss = "" if label.startswith("limit") else f"{r.peak_rss_mb:.0f}"
        psnr = "/".join(f"{r.psnr[w]:.1f}" for w in WIDTHS)
        lines.append(
            f"| {label} | {r.wall:.0f} | {r.cpu:.0f} | {min(r.cpu_ms):.0f} | {rss} | {to_limit} "
            f"| {to_best} | {to_project} "
            f"| {psnr} | {'ok' if r.sizes_ok else 'WRONG'} |"
        )
    return "\n".join(lines)


def _describe(image: Path) -> str:
    import pyvips

    im = pyvips.Image.new_from_file(str(image))
    kind = im.get("vips-loader").removesuffix("load")
    if kind == "jpeg":
        kind = "progressive JPEG" if im.get_typeof("interlaced") else "baseline JPEG"
    extra = ""
    if im.get_typeof("jpeg-chroma-subsample"):
        extra += f", {im.get('jpeg-chroma-subsample')}"
    if im.get_typeof("icc-profile-data"):
        extra += ", ICC profile"
    return f"{im.width}x{im.height} ({im.width * im.height / 1e6:.0f} MP), {kind}{extra}, " + (
        f"{image.stat().st_size / 1e6:.1f} MB"
    )


def machine() -> str:
    cpu = "unknown CPU"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small image, one round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per process (default 3)")
    parser.add_argument("--only", help="comma-separated workers (limit,project,pillow-draft,...)")
    parser.add_argument(
        "--no-extras", action="store_true", help="skip cold start, end to end and cost"
    )
    parser.add_argument(
        "--extras-only",
        action="store_true",
        help="only cold start, end to end, memory and cost, beside the last run's tables",
    )
    parser.add_argument(
        "--set",
        choices=("corpus", "tune", "report", "both", "all"),
        default="all",
        help="which images: the corpus photos and the made ones, one half of the variants "
        "(bench/images.py), both halves, or all (default)",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"where the report goes (default {RESULTS})"
    )
    args = parser.parse_args(argv)

    rounds, runs = (1, 1) if args.quick else (args.rounds, args.runs)
    chosen = contenders(set(args.only.split(",")) if args.only else None)
    sets = {
        "corpus": ["corpus"],
        "tune": ["tune"],
        "report": ["report"],
        "both": ["tune", "report"],
        "all": ["corpus", "tune", "report"],
    }[args.set]
    paths = images.quick() if args.quick else []
    half: dict[str, str] = {}  # image name -> the set it belongs to
    for name in [] if args.quick else sets:
        chosen_paths = images.full() if name == "corpus" else images.variants(name)
        half.update((p.name, name) for p in chosen_paths)
        paths += chosen_paths
    report: dict[str, Any] = {"machine": machine(), "images": {}, "sets": half}
    sections = [f"Measured on {report['machine']}; medians of {rounds}x{runs} runs.", ""]
    if args.extras_only:  # keep the last run's tables: the cost is computed from them
        paths = []
        last = args.results / "latest.json"
        if last.exists():
            report["images"] = json.loads(last.read_text())["images"]
            tables = (args.results / "latest.md").read_text().split("\n#### Cold start")[0]
            sections = [tables.rstrip(), ""]
    print(sections[0], flush=True)
    for path in paths:
        results = bench_image(path, chosen, rounds, runs)
        section = table(path, results, half.get(path.name))
        print("\n" + section, flush=True)
        sections += [section, ""]
        report["images"][path.name] = {
            label: {
                "wall_ms": r.wall if not r.error else None,
                "cpu_ms": r.cpu if not r.error else None,
                "best_cpu_ms": min(r.cpu_ms) if not r.error else None,
                "peak_rss_mb": r.peak_rss_mb,
                "sizes_ok": r.sizes_ok,
                "psnr": r.psnr,
                "error": r.error,
            }
            for label, r in results.items()
        }
        write(args.results, report, sections)  # kept as it grows: a long run may be cut
    if not args.no_extras and not args.quick:
        for extra in extras.run_all(report):
            print("\n" + extra, flush=True)
            sections += [extra, ""]
            write(args.results, report, sections)
    print(f"\nwritten: {args.results / 'latest.md'} and latest.json")
    return 0


def write(results: Path, report: dict[str, Any], sections: list[str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (results / "latest.md").write_text("\n".join(sections) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
