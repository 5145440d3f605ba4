"""The command's start-up section of the benchmark runs the real command and reports its
shape: every figure, both ratios, the target's verdict (not how fast: that is its report)."""

from __future__ import annotations

import re

import pytest

from bench import extras

FIGURES = ("import_pyvips", "help", "resize", "work", "startup")
RATIOS = {
    f"{prefix}{kind}ratio_{unit}"
    for prefix in ("", "help_")
    for kind in ("", "paired_")
    for unit in ("wall", "cpu")
}


def test_command_start_times_the_real_command_against_importing_pyvips() -> None:
    report: dict[str, dict[str, float]] = {}

    markdown = extras.command_start(extras.environment(), report, rounds=2)

    result = report["command_start"]
    figures = {f"{name}_ms" for name in FIGURES} | {f"{name}_cpu_ms" for name in FIGURES}
    assert set(result) == {
        "rounds",
        "image",
        "target",
        "startup_inside_cpu_ms",
        *figures,
        *RATIOS,
    }
    assert result["rounds"] == 2 and result["target"] == extras.COMMAND_START_TARGET
    for key in figures | RATIOS | {"startup_inside_cpu_ms"}:
        assert result[key] > 0, key  # each measured: a process that ran and did its work
    assert result["ratio_cpu"] == result["startup_cpu_ms"] / result["import_pyvips_cpu_ms"]

    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 11  # the header and ten rows (the rule below the header aside)
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


def test_paired_ratio_is_the_median_of_each_rounds_own_ratio() -> None:
    # The machine twice as fast in the second round: 1.5, 1.6 and 1.55 within the rounds,
    # where the medians' ratio says 300 / 200.
    mine, peers = [300.0, 160.0, 310.0], [200.0, 100.0, 200.0]

    assert extras._paired(mine, peers) == pytest.approx(1.55)
    assert extras._verdict(1.5, 1.5) == "1.50x ✓" and extras._verdict(1.51, 1.5) == "1.51x ✗"
