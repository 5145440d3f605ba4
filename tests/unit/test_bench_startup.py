"""The command's start-up section of the benchmark runs the real command and reports its
shape: every figure, both ratios, the target's verdict, the instructions' ratio where
valgrind is at hand and why not where it is not (not how fast: that is its report)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from bench import extras

FIGURES = ("import_pyvips", "help", "resize", "work", "startup")
RATIOS = {
    f"{prefix}{kind}ratio_{unit}"
    for prefix in ("", "help_")
    for kind in ("", "paired_")
    for unit in ("wall", "cpu")
}


def test_command_start_times_the_real_command_against_importing_pyvips(tmp_path: Path) -> None:
    report: dict[str, dict[str, float]] = {}
    without_valgrind = {**extras.environment(), "PATH": str(tmp_path)}  # an empty folder

    markdown = extras.command_start(without_valgrind, report, rounds=2)

    result = report["command_start"]
    figures = {f"{name}_ms" for name in FIGURES} | {f"{name}_cpu_ms" for name in FIGURES}
    assert set(result) == {
        "rounds",
        "image",
        "target",
        "startup_inside_cpu_ms",
        "instructions_not_measured",
        *figures,
        *RATIOS,
    }
    assert result["instructions_not_measured"] == "valgrind is not on PATH"
    assert result["rounds"] == 2 and result["target"] == extras.COMMAND_START_TARGET
    for key in figures | RATIOS | {"startup_inside_cpu_ms"}:
        assert result[key] > 0, key  # each measured: a process that ran and did its work
    assert result["ratio_cpu"] == result["startup_cpu_ms"] / result["import_pyvips_cpu_ms"]

    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 12  # the header and eleven rows (the rule below the header aside)
    assert "| instructions: not measured (valgrind is not on PATH) | | |" in rows
    for label in (
        '`python -c "import pyvips"` (the peer)',
        "`image-resizer --help`",
        "`image-resizer resize tiny.jpg --out DIR`, whole",
        "**the resize's start-up** (whole less the work)",
        f"start-up / import pyvips (<= {extras.COMMAND_START_TARGET})",
        "the same, paired: the median of the rounds' own ratios",
        "`--help` / import pyvips",
    ):
        assert any(row.startswith(f"| {label} |") for row in rows), label
    [target_row] = [row for row in rows if row.startswith("| start-up / import pyvips")]
    assert len(re.findall(r"\d+\.\d\dx [✓✗]", target_row)) == 2  # wall and CPU, each judged
    assert "medians of 2" in markdown.splitlines()[0]


def test_command_start_counts_instructions_under_valgrind() -> None:
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not on PATH (apt-get install valgrind)")
    report: dict[str, dict[str, float]] = {}

    markdown = extras.command_start(extras.environment(), report, rounds=1)

    result = report["command_start"]
    counted = ("import_pyvips", "resize", "work", "startup")
    assert {f"{name}_instructions" for name in counted} | {"instructions_ratio"} <= set(result)
    assert "instructions_not_measured" not in result
    for name in counted:
        assert result[f"{name}_instructions"] > 0, name
    # The start-up is the whole command less its one object's work, as in CPU.
    assert (
        result["startup_instructions"]
        == result["resize_instructions"] - result["work_instructions"]
    )
    assert result["instructions_ratio"] == (
        result["startup_instructions"] / result["import_pyvips_instructions"]
    )
    [row] = [line for line in markdown.splitlines() if line.startswith("| instructions, ")]
    assert row.startswith("| instructions, one run each: the start-up ")
    assert f"(<= {extras.COMMAND_START_TARGET}) | | " in row
    assert re.search(r"\| \d+\.\d\dx [✓✗] \|$", row)


def test_instructions_not_counted_say_which_run_and_why(tmp_path: Path) -> None:
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not on PATH (apt-get install valgrind)")
    env = extras.environment()
    failing = [sys.executable, "-c", "raise SystemExit('no such photo: a.jpg')"]
    unmarked = [sys.executable, "-c", "pass"]  # no sys.call_tracing: no span to set apart

    assert extras._count({"the peer": (failing, False)}, env, tmp_path) == (
        "the peer under valgrind exited with status 1: no such photo: a.jpg"
    )
    assert extras._count({"the work": (unmarked, True)}, env, tmp_path) == (
        "the work: callgrind wrote 1 part(s), not 3 (before, within and after the one "
        "sys_call_tracing call): is this Python's symbol table stripped?"
    )
    assert list(tmp_path.iterdir()) == []  # callgrind's files went to a folder of its own


def test_paired_ratio_is_the_median_of_each_rounds_own_ratio() -> None:
    # The machine twice as fast in the second round: 1.5, 1.6 and 1.55 within the rounds,
    # where the medians' ratio says 300 / 200.
    mine, peers = [300.0, 160.0, 310.0], [200.0, 100.0, 200.0]

    assert extras._paired(mine, peers) == pytest.approx(1.55)
    assert extras._verdict(1.5, 1.5) == "1.50x ✓" and extras._verdict(1.51, 1.5) == "1.51x ✗"
