"""Is the JPEG-only default no slower than before issue 15? `python -m bench.regression`.

`scripts/bench.sh --against [REV]` runs it. REV (default: aaf4b1b, the last commit
before issue 15's work, the first parent of 5c60e2e "Merge i15-formats") has its
`app/` taken out with `git archive` into a temporary folder; this tree's `app/` is the
new one. Both run the very same work, measured the same way: the local command line
(`python -m app resize PHOTO --out DIR`, which both have) with the default settings,
300, 600 and 900 wide, the source's format (JPEG), and MANIFEST at its default (on)
for the new tree, which also runs once with MANIFEST=off to show the manifest's share.

Each run is a fresh process (`bench/regression_worker.py`) pinned to one core with
VIPS_CONCURRENCY=1, in interleaved rounds (every contender once per photo per round,
in a rotating order). A process imports `app`, makes the copies once (the first object:
one-time costs included), then `--runs` more times. Reported per photo: the median CPU
ms of those later runs (a warm function), of the first object and of the import, and
the ratio new/old. The photos are the corpus photographs, else made 12 and 20 MP ones.
Results go to `bench/results/regression.{json,md}`. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyvips

from bench import images
from bench.__main__ import machine_line
from devtools.image_env import image_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORKER = Path(__file__).resolve().parent / "regression_worker.py"
# The last commit before issue 15's work: the first parent of its first merge, 5c60e2e.
BEFORE_ISSUE_15 = "aaf4b1bed18c728ce7ad948313a4ded8ea5ef5b0"
# Settings of the function that would change the work: the defaults are measured, so
# none of them is passed on from the caller's environment.
_SETTINGS = (
    "RESIZE_",
    "OUTPUT_",
    "QUALITY",
    "MANIFEST",
    "CROP",
    "ANIMATION",
    "MAX_",
    "SOURCE_",
    "COLOUR",
    "HDR",
    "RIGHTS",
)


@dataclass(frozen=True)
class Contender:
    label: str
    root: Path  # the tree whose `app/` runs
    env: dict[str, str]


@dataclass
class Measured:
    cpu_ms: list[float] = field(default_factory=list)  # warm runs, every process
    first_cpu_ms: list[float] = field(default_factory=list)
    import_cpu_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    written: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        median = lambda xs: round(statistics.median(xs), 1) if xs else None  # noqa: E731
        return {
            "cpu_ms": median(self.cpu_ms),
            "first_cpu_ms": median(self.first_cpu_ms),
            "import_cpu_ms": median(self.import_cpu_ms),
            "runs": len(self.cpu_ms),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "written": self.written,
            "error": self.error,
        }


def extract(revision: str, into: Path) -> str:
    """`revision`'s `app/` into `into`; its full commit id."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise SystemExit(
            f"bench.regression: revision {revision!r} is not in this clone "
            "(a shallow clone? git fetch --unshallow)"
        )
    commit = found.stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "app"], cwd=ROOT, capture_output=True, check=True
    )
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def photos(quick: bool) -> list[Path]:
    """The corpus photographs (12-20 MP), else made photographs of 12 and 20 MP."""
    if quick:
        return images.quick()
    found = sorted(images.CORPUS.glob("*.jpg")) if images.CORPUS.is_dir() else []
    if found:
        return found
    print(f"note: {images.CORPUS} is absent; made 12 and 20 MP photographs stand in for it")
    images.MADE.mkdir(parents=True, exist_ok=True)
    made = []
    for width, height in ((4032, 3024), (6028, 3391)):
        path = images.MADE / f"synthetic-{width}x{height}.jpg"
        if not path.exists():
            images.synthetic(width, height).jpegsave(str(path), Q=90)
        made.append(path)
    return made


def base_env() -> dict[str, str]:
    """The caller's environment without the function's settings, plus what the image
    sets (its Dockerfile's ENV) and one core for libvips."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS)}
    env.pop("PYTHONPATH", None)
    env.update(image_env(), VIPS_CONCURRENCY="1", OBJECT_CONCURRENCY="1")
    return env


def run_one(contender: Contender, photo: Path, out: Path, runs: int, cpu: int) -> dict[str, Any]:
    """One fresh process of `contender` on `photo`, pinned to `cpu`."""
    done = subprocess.run(
        [sys.executable, str(WORKER), str(contender.root), str(photo), str(out), str(runs)],
        capture_output=True,
        text=True,
        env=contender.env,
        cwd=contender.root,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        check=False,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"error": lines[-1]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    contenders: list[Contender], photo: Path, rounds: int, runs: int, tmp: Path
) -> dict[str, Measured]:
    """Every contender on `photo`, `rounds` times, in a rotating order."""
    cpu = max(os.sched_getaffinity(0))
    measured = {c.label: Measured() for c in contenders}
    for round_ in range(rounds):
        shift = round_ % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            out = tmp / f"{round_}-{contenders.index(contender)}"
            one = run_one(contender, photo, out, runs, cpu)
            m = measured[contender.label]
            if "error" in one:
                m.error = one["error"]
                continue
            m.cpu_ms += one["cpu_ms"]
            m.first_cpu_ms.append(one["first_cpu_ms"])
            m.import_cpu_ms.append(one["import_cpu_ms"])
            m.peak_rss_mb = max(m.peak_rss_mb, one["peak_rss_mb"])
            m.written = one["written"]
    return measured


def _git(*args: str) -> str:
    """What `git ARGS` prints in this tree ("" if it fails)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def ratio(new: float | None, old: float | None) -> float | None:
    return round(new / old, 3) if new and old else None


def report_md(report: dict[str, Any]) -> str:
    """The tables: per photo, warm CPU of each contender and the ratios."""
    labels = report["contenders"]
    old, new, off = labels
    lines = [
        "### The JPEG-only default against the revision before issue 15",
        "",
        f"{report['date']}, {report['machine']}; one core (pinned, VIPS_CONCURRENCY=1), "
        f"{report['rounds']} interleaved rounds of a fresh process each, "
        f"{report['runs']} warm runs a process. Old: {report['against']} "
        f"(`{report['against_commit'][:7]}`); new: this tree (`{report['tree'][:7]}`"
        f"{report['tree'][40:]}).",
        "",
        "CPU ms, median of the warm runs (an object in a warm function):",
        "",
        f"| photo | {old} | {new} | {off} | new / old | new, MANIFEST=off / old |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["photos"].items():
        cells = [row[label]["cpu_ms"] for label in labels]
        lines.append(
            f"| {name} ({row['size']}) | "
            + " | ".join("error" if c is None else f"{c:.0f}" for c in cells)
            + f" | {_fmt(row['ratio'])} | {_fmt(row['ratio_manifest_off'])} |"
        )
    summary = report["summary"]
    lines += [
        "",
        f"New / old, median over the photos: **{_fmt(summary['ratio'])}** "
        f"({_fmt(summary['ratio_min'])}-{_fmt(summary['ratio_max'])}); "
        f"with MANIFEST=off: {_fmt(summary['ratio_manifest_off'])}. "
        f"The manifest's share: {summary['manifest_ms']} ms a photo (median).",
        "",
        "The first object of a process (one-time costs included) and the import of `app`, "
        "CPU ms, medians:",
        "",
        f"| photo | first: {old} | first: {new} | import: {old} | import: {new} |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in report["photos"].items():
        o, n = row[old], row[new]
        lines.append(
            f"| {name} | {_fmt(o['first_cpu_ms'])} | {_fmt(n['first_cpu_ms'])} | "
            f"{_fmt(o['import_cpu_ms'])} | {_fmt(n['import_cpu_ms'])} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.regression", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--against",
        nargs="?",
        const=BEFORE_ISSUE_15,
        default=BEFORE_ISSUE_15,
        metavar="REV",
        help="the old revision (default aaf4b1b: the last commit before issue 15, "
        "the first parent of 5c60e2e)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="warm runs per process (default 3)")
    parser.add_argument("--quick", action="store_true", help="one small image, one round, one run")
    parser.add_argument("--photos", type=Path, nargs="+", help="these photos instead")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    rounds, runs = (1, 1) if args.quick else (args.rounds, args.runs)
    chosen = args.photos or photos(args.quick)

    with tempfile.TemporaryDirectory(prefix="bench-regression-") as tmp:
        old_root = Path(tmp) / "old"
        commit = extract(args.against, old_root)
        env = base_env()
        contenders = [
            Contender("old", old_root, env),
            Contender("new", ROOT, {**env, "MANIFEST": "on"}),
            Contender("new, MANIFEST=off", ROOT, {**env, "MANIFEST": "off"}),
        ]
        tree = _git("rev-parse", "HEAD") + (
            " (app/ changed)" if _git("status", "--porcelain", "app") else ""
        )
        report: dict[str, Any] = {
            "date": datetime.date.today().isoformat(),
            "machine": machine_line(),
            "against": args.against,
            "against_commit": commit,
            "tree": tree or "unknown",
            "rounds": rounds,
            "runs": runs,
            "settings": "RESIZE_WIDTHS=300,600,900 (default), the source's format (JPEG), "
            "QUALITY 80; MANIFEST=on for new",
            "contenders": [c.label for c in contenders],
            "photos": {},
        }
        for photo in chosen:
            print(f"{photo.name} ...", file=sys.stderr)
            measured = measure(contenders, photo, rounds, runs, Path(tmp) / photo.stem)
            rows = {label: m.summary() for label, m in measured.items()}
            old, new, off = (rows[c.label]["cpu_ms"] for c in contenders)
            header = pyvips.Image.new_from_file(str(photo))
            report["photos"][photo.name] = {
                "size": f"{header.width}x{header.height}",
                **rows,
                "ratio": ratio(new, old),
                "ratio_manifest_off": ratio(off, old),
                "manifest_ms": round(new - off, 1) if new and off else None,
            }
    ratios = [r["ratio"] for r in report["photos"].values() if r["ratio"]]
    offs = [r["ratio_manifest_off"] for r in report["photos"].values() if r["ratio_manifest_off"]]
    shares = [r["manifest_ms"] for r in report["photos"].values() if r["manifest_ms"] is not None]
    report["summary"] = {
        "ratio": round(statistics.median(ratios), 3) if ratios else None,
        "ratio_min": min(ratios, default=None),
        "ratio_max": max(ratios, default=None),
        "ratio_manifest_off": round(statistics.median(offs), 3) if offs else None,
        "manifest_ms": round(statistics.median(shares), 1) if shares else None,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "regression.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = report_md(report)
    (args.results / "regression.md").write_text(markdown)
    print(markdown)
    print(f"written: {args.results / 'regression.md'} and regression.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
