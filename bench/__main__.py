"""The benchmark: `python -m bench` (or `scripts/bench.sh`, which installs the peers first).

Per image, in interleaved rounds, each contender runs in a fresh process
(`bench/workers.py`, `bench/node/sharp_worker.mjs`): one untimed warm-up, then
`--runs` timed runs of "bytes in memory -> one JPEG (q80) per width". Reported per
contender: median wall and CPU ms, peak RSS, CPU ratio to the limit and to the
project, and the quality of every output (right size, PSNR against a
full-precision reference). Then cold start, the command's start-up, end to end with
streaming, memory and cost (`bench/extras.py`). Results go to `bench/results/latest.{json,md}`.

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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import extras, images
from bench.quality import Reference, check
from bench.workers import WIDTHS
from devtools.image_env import image_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NODE = ROOT / "bench" / "node"


PROJECT = "project, 1 core"  # without its manifest: the peers make the copies only
WITH_MANIFEST = "project + manifest (default), 1 core"
PILLOW = "Pillow draft() + resize"
TUTORIAL = "Pillow, AWS tutorial"
SHARP = "sharp"
LIMIT = "limit (djpeg, the same reduce, cjpeg)"
PEERS = (PILLOW, TUTORIAL, SHARP)  # the best of these sets the PSNR to match

# Issue 17's targets, per image on one core: (contender, the project's CPU over its at
# most); and the PSNR the project may lose against the best peer at any width.
CPU_TARGETS = (("pillow_draft", PILLOW, 1.00), ("sharp", SHARP, 0.50), ("limit", LIMIT, 1.30))
PSNR_MARGIN_DB = -0.05
# A contender this many times slower than the project needs fewer rounds to be told
# apart: the tutorial (3 full decodes per run) runs at most this many; so does the
# project on every core, which no target concerns.
FAR_ROUNDS = 3


@dataclass(frozen=True)
class Contender:
    label: str
    worker: str  # a name in bench/workers.py, or "sharp"
    one_core: bool = True
    max_rounds: int | None = None  # fewer rounds for one far from the project

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

    def as_dict(self) -> dict[str, Any]:
        """What the report keeps: medians, the best CPU run, and the outputs' checks."""
        done = not self.error and bool(self.cpu_ms)
        return {
            "wall_ms": statistics.median(self.wall_ms) if done else None,
            "cpu_ms": statistics.median(self.cpu_ms) if done else None,
            "best_cpu_ms": min(self.cpu_ms) if done else None,
            "timed_runs": len(self.cpu_ms),
            "peak_rss_mb": self.peak_rss_mb,
            "sizes_ok": self.sizes_ok,
            "psnr": {str(w): v for w, v in self.psnr.items()},
            "error": self.error,
        }


# The host tools each peer needs beyond Python (the limit decodes a JPEG with djpeg and
# a PNG with pngtopnm, and encodes with cjpeg).
LIMIT_TOOLS = ("djpeg", "cjpeg", "pngtopnm")


def unavailable() -> dict[str, list[str]]:
    """What each peer that needs more than Python lacks on this machine (empty: none)."""
    return {
        "limit": [t for t in LIMIT_TOOLS if not shutil.which(t)],
        "sharp": []
        if (NODE / "node_modules" / "sharp").is_dir() and shutil.which("node")
        else ["node and bench/node/node_modules (npm ci in bench/node)"],
    }


def contenders(only: set[str] | None) -> list[Contender]:
    """Every contender this machine can run; says why the others are left out."""
    found = [
        Contender(LIMIT, "limit"),
        Contender(PROJECT, "project"),
        Contender(WITH_MANIFEST, "project-manifest"),
        Contender(
            f"project, {len(os.sched_getaffinity(0))} cores",
            "project",
            one_core=False,
            max_rounds=FAR_ROUNDS,
        ),
        Contender(PILLOW, "pillow-draft"),
        Contender(TUTORIAL, "pillow-tutorial", max_rounds=FAR_ROUNDS),
        Contender(SHARP, "sharp"),
    ]
    missing = unavailable()
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
    # Imports are not timed, but compiling them in every process would double the run.
    env = extras.compiled({**os.environ, "PYTHONPATH": str(ROOT)})
    if contender.worker.startswith("project"):
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
                if contender.max_rounds is not None and round_ >= contender.max_rounds:
                    continue
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


def targets(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue 17's targets for one image, from its results: each ratio or margin, and met."""
    mine = results.get(PROJECT)
    if not mine or mine["error"]:
        return {}
    found: dict[str, Any] = {}
    for key, label, most in CPU_TARGETS:
        other = results.get(label)
        if other and not other["error"]:
            ratio = mine["cpu_ms"] / other["cpu_ms"]
            found[key] = {"ratio": ratio, "at_most": most, "met": ratio <= most}
    # The best PSNR at each width among the peers that made the right sizes (the
    # tutorial neither turns nor colour-manages: on such photos it is out of the running).
    peers = [r for label, r in results.items() if label in PEERS and not r["error"]]
    peers = [r for r in peers if r["sizes_ok"]]
    if peers:
        margins = {w: mine["psnr"][w] - max(r["psnr"][w] for r in peers) for w in mine["psnr"]}
        worst = min(margins.values())
        found["psnr"] = {
            "margin_db": margins,
            "worst_db": worst,
            "at_least": PSNR_MARGIN_DB,
            "met": mine["sizes_ok"] and worst >= PSNR_MARGIN_DB,
        }
    return found


def summary(group: str, names: list[str], report: dict[str, Any]) -> str:
    """One row per image of `group`: the project's CPU, each target's ratio, PSNR margins."""
    title = {
        "tune": "the `tune` half of the variants (the decode and colour rules were chosen on it)",
        "report": "the `report` half of the variants (never tuned on)",
        "corpus": "the corpus photos and the images made from them",
        "quick": "the smoke image",
    }.get(group, group)
    lines = [
        f"#### Targets on {title}",
        "",
        "| image | project CPU ms | x Pillow draft() (<= 1.00) | x sharp (<= 0.50) "
        "| x limit (<= 1.30) | PSNR - best peer, dB "
        + "/".join(map(str, WIDTHS))
        + f" (>= {PSNR_MARGIN_DB}) | targets met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    met_count = {key: 0 for key, _, _ in CPU_TARGETS} | {"psnr": 0}
    all_met = 0
    for name in names:
        found = report["targets"].get(name, {})
        mine = report["images"][name].get(PROJECT, {})
        cpu = f"{mine['cpu_ms']:.0f}" if mine.get("cpu_ms") else "failed"
        cells = []
        for key, _, _ in CPU_TARGETS:
            target = found.get(key)
            cells.append(f"{target['ratio']:.2f} {_mark(target['met'])}" if target else "-")
            met_count[key] += bool(target and target["met"])
        psnr = found.get("psnr")
        if psnr:
            margins = "/".join(f"{psnr['margin_db'][str(w)]:+.2f}" for w in WIDTHS)
            cells.append(f"{margins} {_mark(psnr['met'])}")
            met_count["psnr"] += psnr["met"]
        else:
            cells.append("-")
        checked = [t for t in found.values() if isinstance(t, dict)]
        met = sum(t["met"] for t in checked)
        all_met += bool(checked) and met == len(checked)
        missed = [k for k, t in found.items() if not t["met"]]
        verdict = f"{met}/{len(checked)}" + (f" (not: {', '.join(missed)})" if missed else "")
        lines.append(f"| {name} | {cpu} | " + " | ".join(cells) + f" | {verdict} |")
    lines += [
        "",
        f"All targets met on {all_met} of {len(names)} images; each target: "
        + ", ".join(f"{key} {count}/{len(names)}" for key, count in met_count.items())
        + ".",
    ]
    return "\n".join(lines)


def _mark(met: bool) -> str:
    return "✓" if met else "✗"


def table(name: str, results: dict[str, dict[str, Any]], header: str) -> str:
    """Every contender on one image: medians, bests, ratios, PSNR per width, sizes."""
    limit = next((r for k, r in results.items() if k.startswith("limit") and not r["error"]), None)
    project = results.get(PROJECT)
    lines = [
        f"#### {name}: {header}",
        "",
        "| contender | wall ms | CPU ms | best CPU ms | peak RSS MB | x limit | x limit, best "
        "| x project | PSNR dB " + "/".join(map(str, WIDTHS)) + " | sizes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for label, r in results.items():
        if r["error"]:
            lines.append(f"| {label} | failed: {r['error']} | | | | | | | | |")
            continue
        # Medians, and bests: on a noisy machine noise only ever adds, so the best runs
        # say what each contender costs when nothing else is running.
        other = limit is not None and r is not limit
        to_limit = f"{r['cpu_ms'] / limit['cpu_ms']:.2f}" if other and limit else ""
        to_best = f"{r['best_cpu_ms'] / limit['best_cpu_ms']:.2f}" if other and limit else ""
        to_project = (
            f"{r['cpu_ms'] / project['cpu_ms']:.2f}"
            if project and not project["error"] and r is not project
            else ""
        )
        rss = "" if label.startswith("limit") else f"{r['peak_rss_mb']:.0f}"
        psnr = "/".join(f"{r['psnr'][str(w)]:.2f}" for w in WIDTHS)
        lines.append(
            f"| {label} | {r['wall_ms']:.0f} | {r['cpu_ms']:.0f} | {r['best_cpu_ms']:.0f} | {rss} "
            f"| {to_limit} | {to_best} | {to_project} "
            f"| {psnr} | {'ok' if r['sizes_ok'] else 'WRONG'} |"
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
    if im.get_typeof("orientation") and im.get("orientation") != 1:
        extra += f", EXIF orientation {im.get('orientation')}"
    return f"{im.width}x{im.height} ({im.width * im.height / 1e6:.0f} MP), {kind}{extra}, " + (
        f"{image.stat().st_size / 1e6:.1f} MB"
    )


def machine_line() -> str:
    """The machine and software, as one line of a report."""
    m = machine()
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['os']} (load average {m['load_average']} at "
        f"the start); Python {m['python']}, libvips {m['libvips']} (pyvips {m['pyvips']})"
        + (f", sharp {m['sharp']}" if "sharp" in m else "")
    )


def machine() -> dict[str, str]:
    """What the numbers were measured on: the CPU, the software, the date, the load."""
    import PIL
    import pyvips

    cpu = "unknown CPU"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    found = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "pyvips": pyvips.__version__,
        "pillow": PIL.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": Path("/proc/loadavg").read_text().split(" ")[0],
    }
    if (NODE / "node_modules" / "sharp").is_dir() and shutil.which("node"):
        script = 'import("sharp").then(s => console.log(JSON.stringify(s.default.versions)))'
        asked = subprocess.run(
            ["node", "-e", script], cwd=NODE, capture_output=True, text=True, check=False
        )
        if asked.returncode == 0:
            versions = json.loads(asked.stdout)
            found["sharp"] = f"{versions['sharp']} (libvips {versions['vips']})"
    if shutil.which("djpeg"):
        version = subprocess.run(["djpeg", "-version"], capture_output=True, text=True, check=False)
        found["libjpeg"] = (version.stderr or version.stdout).strip().splitlines()[0]
    return found


def header(report: dict[str, Any]) -> str:
    m = report["machine"]
    software = f"Python {m['python']}, libvips {m['libvips']} (pyvips {m['pyvips']}), "
    software += f"Pillow {m['pillow']}"
    software += f", sharp {m['sharp']}" if "sharp" in m else ""
    software += f", {m['libjpeg']} (djpeg, cjpeg)" if "libjpeg" in m else ""
    rounds, runs = report["rounds"], report["runs"]
    return "\n".join(
        [
            f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['os']} "
            f"(load average {m['load_average']} at the start); {software}.",
            "",
            f"Each contender runs in a fresh process per round, {rounds} rounds interleaved "
            f"(the tutorial and the project on every core: {min(rounds, FAR_ROUNDS)}), one "
            f"untimed warm-up then {runs} timed runs of bytes in memory -> one JPEG (q80) "
            "per width; CPU ms are medians. The project makes the copies only "
            "(MANIFEST=off), as the peers do; its default, with the manifest, has its own "
            "row and no target. "
            "One core: pinned, VIPS_CONCURRENCY=1, sharp.concurrency(1). The limit is the "
            "least work: libjpeg-turbo's djpeg at the project's DCT scale, the project's "
            "own reduce, turn and colour transform on the decoded pixels, then cjpeg.",
            "",
            "Targets (issue 17), on every image, one core: CPU at most Pillow draft()'s, at "
            "most half sharp's, at most 1.3x the limit's; PSNR against the reference at "
            f"least the best peer's {PSNR_MARGIN_DB} dB at every width (peers: Pillow "
            "draft(), the tutorial, sharp; only those whose outputs have the right sizes).",
        ]
    )


def render(report: dict[str, Any]) -> list[str]:
    """The images' part of the report: a targets table per group, then every image."""
    sections = [header(report), ""]
    groups = _groups(report)
    for group, names in groups.items():
        sections += [summary(group, names, report), ""]
    for group, names in groups.items():
        for name in names:
            described = report["described"][name] + (f" [{group}]" if group != "quick" else "")
            sections += [table(name, report["images"][name], described), ""]
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small image, one round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per process (default 3)")
    parser.add_argument("--only", help="comma-separated workers (limit,project,pillow-draft,...)")
    parser.add_argument(
        "--no-extras", action="store_true", help="skip cold start, start-up, end to end and cost"
    )
    parser.add_argument(
        "--extras-only",
        action="store_true",
        help="only cold start, start-up, end to end, memory and cost, beside the last run's tables",
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

    started = time.monotonic()
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
    report: dict[str, Any] = {
        "machine": machine(),
        "rounds": rounds,
        "runs": runs,
        "images": {},
        "sets": half,
        "described": {},
        "targets": {},
    }
    if args.extras_only:  # keep the last run's tables: the cost is computed from them
        paths = []
        last = args.results / "latest.json"
        if last.exists():
            kept = json.loads(last.read_text())
            kept["targets"] = {n: targets(r) for n, r in kept["images"].items()}
            report |= {k: kept[k] for k in ("images", "sets", "targets", "rounds", "runs")}
            report["described"] = kept.get("described") or {n: "" for n in kept["images"]}
    print(header(report), flush=True)
    for path in paths:
        results = {k: r.as_dict() for k, r in bench_image(path, chosen, rounds, runs).items()}
        report["images"][path.name] = results
        report["described"][path.name] = _describe(path)
        report["targets"][path.name] = targets(results)
        print("\n" + table(path.name, results, report["described"][path.name]), flush=True)
        write(args.results, report, render(report))  # kept as it grows: a long run may be cut
    sections = render(report)
    for group, names in _groups(report).items():
        print("\n" + summary(group, names, report), flush=True)
    if not args.no_extras and not args.quick:
        for extra in extras.run_all(report):
            print("\n" + extra, flush=True)
            sections += [extra, ""]
            write(args.results, report, sections)
    report["duration_s"] = round(time.monotonic() - started)
    sections += [f"The whole run took {report['duration_s'] / 60:.0f} min.", ""]
    write(args.results, report, sections)
    print(f"\nwritten: {args.results / 'latest.md'} and latest.json")
    return 0


def _groups(report: dict[str, Any]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in report["images"]:
        groups.setdefault(report["sets"].get(name, "quick"), []).append(name)
    return groups


def write(results: Path, report: dict[str, Any], sections: list[str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (results / "latest.md").write_text("\n".join(sections) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
