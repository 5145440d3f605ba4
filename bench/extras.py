"""Cold start, the command's start-up, end to end, memory and cost: the rest of the benchmark."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import images
from bench.paced import paced_proxy
from devtools.emulator import Emulator
from devtools.image_env import image_env
from devtools.s3server import FAKE_AWS_ENV, free_port, moto_server

ROOT = Path(__file__).resolve().parents[1]
PYCACHE = ROOT / "bench" / "results" / "pycache"
ROUNDS = 25  # cold starts vary by tens of ms from run to run here
COLD_START_TARGET = 1.15  # issue 17: the handler's import and init, over the bare imports
COMMAND_START_TARGET = 1.5  # issue 24: `image-resizer resize`'s start-up, over `import pyvips`
# One run under callgrind takes 5-20 s here (20-60x its CPU); this bounds a stuck one.
VALGRIND_TIMEOUT_S = 300
# The C function behind `sys.call_tracing`: callgrind dumps its counts as it enters and
# leaves it, so that a run's instructions within that one call come apart (`_instructions`).
SPAN = "sys_call_tracing"


def _timed(body: str) -> str:
    """A script that runs `body` and prints its wall and CPU milliseconds."""
    return (
        "import time; start, cpu = time.perf_counter(), time.process_time()\n"
        f"{body}\n"
        "print((time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000)\n"
    )


def _counted(body: str) -> str:
    """A script that runs `body` within `sys.call_tracing` (no tracer is set: it only
    marks the span), for callgrind to count that span alone (`_instructions`)."""
    return (
        "import sys\n"
        "def measured():\n"
        f"{textwrap.indent(body, '    ')}\n"
        "sys.call_tracing(measured, ())\n"
    )


# The unavoidable part of a cold start, and the handler's whole import and initialisation.
# Each prints its wall and CPU milliseconds (CPU: the other sessions of a shared machine
# stretch wall time, not this process's CPU); the same bodies are counted in instructions.
BARE_BODY = 'import boto3, pyvips\nboto3.client("s3")'
HANDLER_BODY = "import app.handler"
BARE = _timed(BARE_BODY)
HANDLER = _timed(HANDLER_BODY)

# The real command, run as `image-resizer resize FILE --out DIR` runs it, with only the
# per-object work timed (`pipeline.process`, looked up as the command calls it): what the
# command spends around that work is its start-up. It prints the exit status and, per
# object, the (wall, CPU) milliseconds of its work and the process's CPU when it began.
COMMAND_WORK = """
import json, resource, sys, time
import app.__main__
from app.renditions import pipeline
process, spent = pipeline.process, []
def timed(*args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    so_far = resource.getrusage(resource.RUSAGE_SELF)
    try:
        return process(*args, **kwargs)
    finally:
        spent.append((
            (time.perf_counter() - start) * 1000,
            (time.process_time() - cpu) * 1000,
            (so_far.ru_utime + so_far.ru_stime) * 1000,
        ))
pipeline.process = timed
status = app.__main__.main(["resize", sys.argv[1], "--out", sys.argv[2]])
print(json.dumps({"status": status, "work": spent}))
"""
# The same command, its per-object work called within `sys.call_tracing` so that callgrind
# counts that work's instructions apart (`_instructions`); it prints the calls' number.
COMMAND_COUNTED = """
import json, sys
import app.__main__
from app.renditions import pipeline
process, calls = pipeline.process, []
def counted(*args, **kwargs):
    calls.append(1)
    return sys.call_tracing(lambda: process(*args, **kwargs), ())
pipeline.process = counted
status = app.__main__.main(["resize", sys.argv[1], "--out", sys.argv[2]])
print(json.dumps({"status": status, "work": len(calls)}))
"""

# Lambda prices as AWS publishes them for us-east-1 (USD); check your region's.
PRICE_PER_GB_S = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PRICE_PER_REQUEST = 0.20 / 1_000_000
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1769 MB, a share of one below
MEMORY_SIZES = (1024, 1769, 3008)
# One GET stream from Lambda runs at tens of MB/s; this stands for it (not measured here).
PACED_MB_S = 50
PACED = f"paced to {PACED_MB_S} MB/s"
WITH_MANIFEST = "project + manifest (default), 1 core"  # bench/__main__.py names it so: the end-to-end run that stands for Lambda's S3


def compiled(env: dict[str, str]) -> dict[str, str]:
    """`env` with every module's bytecode cached after its first import, as the image has
    it (pip compiles what it installs; the Dockerfile compiles app/): kept apart, under
    `PYCACHE`, whatever PYTHONDONTWRITEBYTECODE says. Else each fresh process would
    compile botocore and the app from source, which no cold start in Lambda does."""
    kept = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(PYCACHE)}


def environment() -> dict[str, str]:
    """What the sections' processes run with: the image's settings, no real AWS."""
    return compiled(
        {
            **os.environ,
            **FAKE_AWS_ENV,
            **image_env(),  # the function runs with what its image sets
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "ERROR",
        }
    )


def run_all(report: dict[str, Any]) -> Iterator[str]:
    """Each section's report as it is done; a section that fails says so and the rest run."""
    env = environment()
    sections: list[tuple[str, Callable[[], str]]] = [
        ("Cold start", lambda: cold_start(env, report)),
        ("The command's start-up", lambda: command_start(env, report)),
        ("End to end", lambda: end_to_end(env, report)),
        ("Second core", lambda: second_core(env, report)),
        ("Memory", lambda: memory(report)),
        ("Cost", lambda: cost(report)),
    ]
    for title, section in sections:
        try:
            yield section()
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", None) or str(error)
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            last = detail.strip().splitlines()[-1:] or ["no detail"]
            yield f"#### {title}: failed ({type(error).__name__}: {last[0]})"


def cold_start(env: dict[str, str], report: dict[str, Any], rounds: int = ROUNDS) -> str:
    """Issue 17's cold-start target: `import app.handler` against `import boto3, pyvips`
    and one S3 client, each in a fresh interpreter, interleaved, `rounds` rounds, medians;
    the bytecode cached as the image has it (`compiled`). Then the runtime's first reply.

    With valgrind on PATH, each import is also counted in instructions, once (the count
    barely moves between runs, where the machine's speed drifts): the same span the CPU
    time covers, as the run within `sys.call_tracing` (`_counted`).
    """
    env = compiled(env)
    for code in (BARE, HANDLER):  # untimed: caches the bytecode
        _python_ms(code, env)
    bare, handler = [], []
    for _ in range(rounds):
        bare.append(_python_ms(BARE, env))
        handler.append(_python_ms(HANDLER, env))
    runtime = []
    for _ in range(3):
        with (
            Path(os.devnull).open("wb") as quiet,
            Emulator("app.handler.handler", port=0, env=env, output=quiet) as emulator,
        ):
            start = time.perf_counter()
            emulator.invoke(json.dumps({"Event": "s3:TestEvent", "Service": "Amazon S3"}).encode())
            runtime.append((time.perf_counter() - start) * 1000)
    counts = _count(
        {
            "bare_imports": ([sys.executable, "-c", _counted(BARE_BODY)], True),
            "handler_init": ([sys.executable, "-c", _counted(HANDLER_BODY)], True),
        },
        env,
        ROOT,
    )
    result: dict[str, Any] = {
        "rounds": rounds,
        "bare_imports_ms": statistics.median(w for w, _ in bare),
        "bare_imports_cpu_ms": statistics.median(c for _, c in bare),
        "handler_init_ms": statistics.median(w for w, _ in handler),
        "handler_init_cpu_ms": statistics.median(c for _, c in handler),
        "runtime_first_response_ms": statistics.median(runtime),
    }
    wall = result["handler_init_ms"] / result["bare_imports_ms"]
    cpu = result["handler_init_cpu_ms"] / result["bare_imports_cpu_ms"]
    result |= {
        "ratio_wall": wall,
        "ratio_cpu": cpu,
        "paired_ratio_wall": _paired([w for w, _ in handler], [w for w, _ in bare]),
        "paired_ratio_cpu": _paired([c for _, c in handler], [c for _, c in bare]),
        "target": COLD_START_TARGET,
    }
    if isinstance(counts, str):
        result["instructions_not_measured"] = counts
        instructions = f"| instructions: not measured ({counts}) | | |"
    else:
        bare_count, handler_count = counts["bare_imports"][0], counts["handler_init"][0]
        result |= {
            "bare_imports_instructions": bare_count,
            "handler_init_instructions": handler_count,
            "instructions_ratio": handler_count / bare_count,
        }
        instructions = (
            f"| instructions, one run each: {handler_count / 1e6:.0f} M / "
            f"{bare_count / 1e6:.0f} M (<= {COLD_START_TARGET}) "
            f"| | {_verdict(result['instructions_ratio'], COLD_START_TARGET)} |"
        )
    report["cold_start"] = result

    def verdict(ratio: float) -> str:
        return _verdict(ratio, COLD_START_TARGET)

    return "\n".join(
        [
            f"#### Cold start (medians of {rounds}, each in a fresh process, interleaved)",
            "",
            "Bytecode cached as in the image: pip compiles the dependencies as it installs "
            "them, the Dockerfile compiles app/. Target (issue 17): the handler within "
            f"{COLD_START_TARGET}x of the unavoidable imports. The paired ratio holds each "
            "round against its own peer, so the machine's speed drifting between rounds "
            "moves it less. Instructions (valgrind's callgrind, the same spans, one run "
            "each) do not drift at all: their ratio sits in the CPU column.",
            "",
            "| what | wall ms | CPU ms |",
            "|---|---:|---:|",
            "| import boto3 + pyvips, one S3 client (unavoidable) "
            f"| {result['bare_imports_ms']:.0f} | {result['bare_imports_cpu_ms']:.0f} |",
            f"| import and initialise app.handler | {result['handler_init_ms']:.0f} "
            f"| {result['handler_init_cpu_ms']:.0f} |",
            f"| handler / unavoidable (<= {COLD_START_TARGET}) | {verdict(wall)} | {verdict(cpu)} |",
            "| the same, paired: the median of the rounds' own ratios "
            f"| {verdict(result['paired_ratio_wall'])} | {verdict(result['paired_ratio_cpu'])} |",
            instructions,
            "| start awslambdaric through the emulator to the first response "
            f"| {result['runtime_first_response_ms']:.0f} | |",
        ]
    )


def command_start(env: dict[str, str], report: dict[str, Any], rounds: int = ROUNDS) -> str:
    """Issue 24's start-up target: `image-resizer resize FILE --out DIR` before its first
    object's work, against `python -c "import pyvips"`; `--help` beside them.

    Each in a fresh process, interleaved, medians of `rounds`, the bytecode cached as the
    image has it (`compiled`); CPU of the whole child process (the interpreter's own start
    and exit included), wall around it. The real command resizes a 16x16 JPEG; a second
    run of the same command times its per-object work (`COMMAND_WORK`); the start-up is
    the first's CPU less the second's work, round by round.

    With valgrind on PATH, the peer, the real command and its work are also counted in
    instructions, one run each once the bytecode is cached (the count barely moves between
    runs); the start-up is again the whole less the work. The work is counted in the same
    command run with its one `pipeline.process` call made through `sys.call_tracing`
    (`COMMAND_COUNTED`), whose entry and exit callgrind marks, so that the count between
    them is that object's work in every thread, libvips' workers included, exactly the
    span the CPU timing takes and nothing else.
    """
    env = compiled(env)
    command = Path(sys.executable).with_name("image-resizer")
    if not command.exists():
        raise ValueError(f"{command} is missing: scripts/setup.sh installs the command")
    with tempfile.TemporaryDirectory(prefix="command-start-") as folder:
        tiny = Path(folder) / "tiny.jpg"
        images.synthetic(16, 16).jpegsave(str(tiny), Q=90)

        def run(*argv: str) -> tuple[float, float, str]:
            return _child(list(argv), env, cwd=folder)  # from a folder of the user's, not ROOT

        def resize(out: str) -> tuple[float, float]:
            wall, cpu, printed = run(str(command), "resize", str(tiny), "--out", out)
            if f"{tiny}: processed" not in printed:
                raise ValueError(f"image-resizer resize {tiny} did not process it: {printed!r}")
            return wall, cpu

        def work(out: str) -> tuple[float, float, float]:
            printed = run(sys.executable, "-c", COMMAND_WORK, str(tiny), out)[2]
            done = json.loads(printed.splitlines()[-1])
            if done["status"] != 0 or len(done["work"]) != 1:
                raise ValueError(f"the timed command did not process {tiny} once: {done}")
            [(wall, cpu, before)] = done["work"]
            return wall, cpu, before

        peer_argv = (sys.executable, "-c", "import pyvips")
        # Untimed: caches the bytecode. Each run writes to a folder of its own, so that
        # no copy is found already made.
        run(*peer_argv)
        run(str(command), "--help")
        resize(f"{folder}/warm-resize")
        work(f"{folder}/warm-work")
        peer, help_, whole, per_object = [], [], [], []
        for i in range(rounds):
            peer.append(run(*peer_argv)[:2])
            help_.append(run(str(command), "--help")[:2])
            whole.append(resize(f"{folder}/resize-{i}"))
            per_object.append(work(f"{folder}/work-{i}"))
        counts = _count(
            {
                "import_pyvips": (list(peer_argv), False),
                "resize": (
                    [str(command), "resize", str(tiny), "--out", f"{folder}/count-resize"],
                    False,
                ),
                "work": (
                    [sys.executable, "-c", COMMAND_COUNTED, str(tiny), f"{folder}/count-work"],
                    True,
                ),
            },
            env,
            folder,
        )
    if not isinstance(counts, str):
        done = json.loads(counts["work"][1].splitlines()[-1])
        if f"{tiny}: processed" not in counts["resize"][1] or done != {"status": 0, "work": 1}:
            counts = f"under valgrind, the command did not process {tiny.name} once ({done})"
    startup = [(r - w, rc - wc) for (r, rc), (w, wc, _) in zip(whole, per_object, strict=True)]
    result: dict[str, Any] = {
        "rounds": rounds,
        "image": "16x16 JPEG",
        "target": COMMAND_START_TARGET,
    }
    for key, runs in (
        ("import_pyvips", peer),
        ("help", help_),
        ("resize", whole),
        ("work", per_object),
        ("startup", startup),
    ):
        result[f"{key}_ms"] = statistics.median(r[0] for r in runs)
        result[f"{key}_cpu_ms"] = statistics.median(r[1] for r in runs)
    for prefix, runs in (("", startup), ("help_", help_)):
        for unit, at in (("wall", 0), ("cpu", 1)):
            mine, peers = [r[at] for r in runs], [r[at] for r in peer]
            result[f"{prefix}ratio_{unit}"] = statistics.median(mine) / statistics.median(peers)
            result[f"{prefix}paired_ratio_{unit}"] = _paired(mine, peers)
    result["startup_inside_cpu_ms"] = statistics.median(before for *_, before in per_object)
    if isinstance(counts, str):
        result["instructions_not_measured"] = counts
        instructions = f"| instructions: not measured ({counts}) | | |"
    else:
        for key, (count, _) in counts.items():
            result[f"{key}_instructions"] = count
        result["startup_instructions"] = counts["resize"][0] - counts["work"][0]
        result["instructions_ratio"] = (
            result["startup_instructions"] / result["import_pyvips_instructions"]
        )
        instructions = (
            "| instructions, one run each: the start-up "
            f"{result['startup_instructions'] / 1e6:.0f} M (whole "
            f"{result['resize_instructions'] / 1e6:.0f} M less the work "
            f"{result['work_instructions'] / 1e6:.0f} M) / import pyvips "
            f"{result['import_pyvips_instructions'] / 1e6:.0f} M "
            f"(<= {COMMAND_START_TARGET}) | | "
            f"{_verdict(result['instructions_ratio'], COMMAND_START_TARGET)} |"
        )
    report["command_start"] = result

    def cells(key: str) -> str:
        return f"{result[f'{key}_ms']:.0f} | {result[f'{key}_cpu_ms']:.0f}"

    def verdicts(prefix: str) -> str:
        return " | ".join(
            _verdict(result[f"{prefix}_{unit}"], COMMAND_START_TARGET) for unit in ("wall", "cpu")
        )

    def ratios(prefix: str) -> str:
        return " | ".join(f"{result[f'{prefix}_{unit}']:.2f}x" for unit in ("wall", "cpu"))

    return "\n".join(
        [
            f"#### The command's start-up (medians of {rounds}, each in a fresh process, "
            "interleaved)",
            "",
            "Bytecode cached as in the image. CPU of each whole process (the interpreter's "
            "start and exit included), wall around it. The start-up is what `image-resizer "
            "resize FILE --out DIR` spends before and after its one object's work: the "
            "command's CPU on a 16x16 JPEG, less that object's work (`pipeline.process`) "
            "timed within the same command run again, round by round. Target (issue 24): "
            f"within {COMMAND_START_TARGET}x of importing pyvips alone. Instructions "
            "(valgrind's callgrind, one run each, the start-up again the whole less the "
            "work) do not drift with the machine's speed: their ratio sits in the CPU column.",
            "",
            "| what | wall ms | CPU ms |",
            "|---|---:|---:|",
            f'| `python -c "import pyvips"` (the peer) | {cells("import_pyvips")} |',
            f"| `image-resizer --help` | {cells('help')} |",
            f"| `image-resizer resize tiny.jpg --out DIR`, whole | {cells('resize')} |",
            f"| its one object's work (`pipeline.process`, timed within) | {cells('work')} |",
            f"| **the resize's start-up** (whole less the work) | {cells('startup')} |",
            "| a check: the timed run's CPU when its work began (its exit not counted) "
            f"| | {result['startup_inside_cpu_ms']:.0f} |",
            f"| start-up / import pyvips (<= {COMMAND_START_TARGET}) | {verdicts('ratio')} |",
            "| the same, paired: the median of the rounds' own ratios "
            f"| {verdicts('paired_ratio')} |",
            instructions,
            f"| `--help` / import pyvips | {ratios('help_ratio')} |",
            f"| the same, paired | {ratios('help_paired_ratio')} |",
        ]
    )


def end_to_end(env: dict[str, str], report: dict[str, Any]) -> str:
    """On loopback as it is, and with S3's responses paced to `PACED_MB_S`."""
    photo = _photo()
    results: dict[str, dict[str, float]] = {}
    port = free_port()
    with moto_server(port) as endpoint, paced_proxy(("127.0.0.1", port), PACED_MB_S * 1e6) as paced:
        for name, url in (("loopback", endpoint), (PACED, paced)):
            out = subprocess.run(
                [sys.executable, "-m", "bench.endtoend", url, str(photo)],
                env={**env, "AWS_ENDPOINT_URL": url},
                cwd=ROOT,
                capture_output=True,
                check=True,
                timeout=600,
            )
            results[name] = json.loads(out.stdout.splitlines()[-1])  # after the EMF lines
    report["end_to_end"] = {"image": photo.name, **results}
    rows = [
        ("handler: S3 event -> GET streamed into the decoder -> 3 PUTs", "handler_ms"),
        ("download alone (GetObject, read to the end)", "download_ms"),
        ("pipeline alone (bytes in memory)", "pipeline_ms"),
        ("the other requests alone (a HEAD and a PUT per copy)", "requests_ms"),
    ]
    names = list(results)
    lines = [
        f"#### End to end: {photo.name} on a local S3 API (moto, loopback), all cores",
        "",
        "| what, ms | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(f"{results[n][key]:.0f}" for n in names) + " |")
    sums = [sum(results[n][k] for _, k in rows[1:]) for n in names]
    lines.append(
        "| the sum, were nothing overlapped | " + " | ".join(f"{t:.0f}" for t in sums) + " |"
    )
    ratios = [results[n]["handler_ms"] / t for n, t in zip(names, sums, strict=True)]
    lines.append("| handler / sum | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    return "\n".join(lines)


def second_core(env: dict[str, str], report: dict[str, Any]) -> str:
    """One object and four at once (one event's records), on one core and on two."""
    photo = _photo()
    cpus = sorted(os.sched_getaffinity(0))
    results: dict[str, float] = {}
    rows = []
    for objects in (1, 4):
        cells = []
        for label, pinned in (("1 core", cpus[-1:]), (f"{len(cpus)} cores", cpus)):
            run_env = {**env, "VIPS_CONCURRENCY": "1"} if len(pinned) == 1 else env
            out = subprocess.run(
                [sys.executable, "-m", "bench.cores", str(photo), str(objects)],
                env=run_env,
                cwd=ROOT,
                capture_output=True,
                check=True,
                timeout=600,
                preexec_fn=lambda pinned=pinned: os.sched_setaffinity(0, set(pinned)),
            )
            wall = float(json.loads(out.stdout.splitlines()[-1])["wall_ms"])
            results[f"{objects} objects, {label}"] = wall
            cells.append(wall)
        rows.append(f"| {objects} | {cells[0]:.0f} | {cells[1]:.0f} | {cells[0] / cells[1]:.2f}x |")
    report["second_core"] = {"image": photo.name, **results}
    return "\n".join(
        [
            f"#### What the second core buys: {photo.name}, objects processed at once",
            "",
            f"| objects | wall ms, 1 core | wall ms, {len(cpus)} cores | speed-up |",
            "|---:|---:|---:|---:|",
            *rows,
        ]
    )


def _photo() -> Path:
    """The 20 MP photograph, or the one the benchmark makes when the corpus is absent."""
    photo = images.CORPUS / images.BASE
    if photo.exists():
        return photo
    return next(p for p in images.full() if p.name == "made-20mp-progressive.jpg")


def memory(report: dict[str, Any]) -> str:
    """Peak RSS on the benchmark's images, then on the worst inputs the limits let in."""
    rows = []
    peaks: dict[str, float] = {}
    for name, results in report["images"].items():
        mine = results.get("project, 1 core", {})
        if mine.get("peak_rss_mb"):
            rows.append(f"| {name} | {mine['peak_rss_mb']:.0f} |")
            peaks[name] = mine["peak_rss_mb"]
    for path in images.worst_cases():
        try:
            rss = _project_rss(path)
        except subprocess.CalledProcessError as error:
            why = error.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            rows.append(f"| {path.name} | failed: {why[0]} |")
            continue
        rows.append(f"| {path.name} ({path.stat().st_size / 1e6:.0f} MB) | {rss:.0f} |")
        peaks[path.name] = rss
    report["memory"] = {"peak_rss_mb": peaks}
    return "\n".join(
        [
            "#### Peak RSS of the project's process, one core (Python, botocore, libvips, the image)",
            "",
            "| image | peak RSS MB |",
            "|---|---:|",
            *rows,
        ]
    )


def _project_rss(path: Path) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.workers",
            "project",
            str(path),
            str(images.MADE / "out"),
            "--runs=1",
        ],
        env={**os.environ, **image_env(), "PYTHONPATH": str(ROOT), "VIPS_CONCURRENCY": "1"},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(out.stdout)["peak_rss_mb"])


def cost(report: dict[str, Any]) -> str:
    """GB-seconds and dollars per million images: CPU time at one vCPU, plus S3 wait.

    Of the 20 MP photograph when the run measured it, else of the 12 MP phone photo
    (4032x3024) with the median CPU among the run's; as deployed by default (with the
    manifest) when that was measured.
    """
    timed = {
        n: r.get(WITH_MANIFEST, {}).get("cpu_ms") or r.get("project, 1 core", {}).get("cpu_ms")
        for n, r in report["images"].items()
    }
    timed = {n: ms for n, ms in timed.items() if ms}
    phones = sorted((ms, n) for n, ms in timed.items() if "4032x3024" in n)
    name = images.BASE if images.BASE in timed else phones[len(phones) // 2][1] if phones else ""
    cpu_ms = timed.get(name)
    if not cpu_ms:
        return "#### Cost: needs the 20 MP photograph's or a 12 MP phone photo's project timing"
    # What the handler spends beyond the pipeline's CPU: waiting on S3 (not CPU-bound),
    # at the paced rate that stands for Lambda's.
    e2e = report.get("end_to_end", {}).get(PACED, {})
    wait_ms = max(0.0, e2e.get("handler_ms", cpu_ms) - e2e.get("pipeline_ms", cpu_ms))
    rows = []
    for mb in MEMORY_SIZES:
        share = min(1.0, mb / FULL_VCPU_MB)  # a second vCPU helps only the overlapped part
        ms = cpu_ms / share + wait_ms
        gb_s = ms / 1000 * mb / 1024
        dollars = {
            arch: (gb_s * price + PRICE_PER_REQUEST) * 1e6 for arch, price in PRICE_PER_GB_S.items()
        }
        rows.append(
            f"| {mb} | {ms:.0f} | {gb_s:.3f} | {dollars['arm64']:.2f} | {dollars['x86_64']:.2f} |"
        )
    report["cost"] = {"image": name, "cpu_ms": cpu_ms, "wait_ms": wait_ms}
    return "\n".join(
        [
            f"#### Cost per million images like {name} (3 widths), from this run",
            "",
            f"CPU {cpu_ms:.0f} ms at one vCPU plus {wait_ms:.0f} ms waiting on S3 (end to end on "
            f"{report.get('end_to_end', {}).get('image', 'the 20 MP photograph')}, "
            f"paced to {PACED_MB_S} MB/s); below 1769 MB "
            "Lambda gives a share of one vCPU, so the CPU part stretches. The same duration "
            "is assumed on arm64 (not measured here).",
            "",
            "| memory MB | duration ms | GB-s per image | $ per million, arm64 | $ per million, x86_64 |",
            "|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


def _python_ms(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds that `code` prints, run in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, check=True, text=True
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _child(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, str]:
    """(wall ms, CPU ms of the whole process and whatever it waited for, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, check=True, text=True, timeout=120
    )
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, out.stdout


def _paired(mine: list[float], peers: list[float]) -> float:
    """The median of each round's own ratio: steadier than the ratio of the medians on a
    machine whose speed drifts between rounds (+-15% here), as each pair shares a round."""
    return statistics.median(m / p for m, p in zip(mine, peers, strict=True))


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x {'✓' if ratio <= target else '✗'}"


def _count(
    runs: dict[str, tuple[list[str], bool]], env: dict[str, str], cwd: str | Path
) -> dict[str, tuple[int, str]] | str:
    """Each run's instructions and stdout (`_instructions`), one run each: a count moves
    by 0.2% or less between runs here (a 16x16 JPEG's work by 1%), where CPU time drifts
    by 15%. Or, as one line, why they were not measured (valgrind absent, failed or slow)."""
    valgrind = shutil.which("valgrind", path=env.get("PATH"))
    if valgrind is None:
        return "valgrind is not on PATH"
    counts = {}
    for name, (argv, span) in runs.items():
        try:
            counts[name] = _instructions(valgrind, argv, env, cwd, span=span)
        except subprocess.TimeoutExpired:
            return f"{name} under valgrind took over {VALGRIND_TIMEOUT_S} s"
        except subprocess.CalledProcessError as error:
            last = error.stderr.strip().splitlines()[-1:] or ["no detail"]
            return f"{name} under valgrind exited with status {error.returncode}: {last[0]}"
        except ValueError as error:
            return f"{name}: {error}"
    return counts


def _instructions(
    valgrind: str, argv: list[str], env: dict[str, str], cwd: str | Path, *, span: bool
) -> tuple[int, str]:
    """(Instructions, stdout) of one run of `argv` under callgrind, every thread's: the
    whole process's, or with `span` only those within its one `sys.call_tracing` call
    (`SPAN`), which callgrind's dumps on entering and leaving it set apart. Its files go
    to a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        marks = [f"--dump-before={SPAN}", f"--dump-after={SPAN}"] if span else []
        out = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--quiet",  # so that stderr is the run's own
                f"--callgrind-out-file={folder}/callgrind.%p",
                "--dump-instr=no",
                *marks,
                *argv,
            ],
            env=env,
            cwd=cwd,
            capture_output=True,
            check=True,
            text=True,
            timeout=VALGRIND_TIMEOUT_S,
        )
        parts: dict[int, int] = {}
        for dump in Path(folder).iterdir():
            fields = dict(
                line.split(": ", 1)
                for line in dump.read_text(errors="replace").splitlines()
                if line.startswith(("part: ", "summary: "))
            )
            parts[int(fields.get("part", "1"))] = int(fields["summary"])
    if not span:
        return sum(parts.values()), out.stdout
    if len(parts) != 3:  # before the call, within it, after it
        raise ValueError(
            f"callgrind wrote {len(parts)} part(s), not 3 (before, within and after the one "
            f"{SPAN} call): is this Python's symbol table stripped?"
        )
    return parts[2], out.stdout
