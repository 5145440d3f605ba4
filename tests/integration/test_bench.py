"""The benchmark still runs and checks what it claims to (not how fast: that is its report)."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.__main__ import unavailable
from bench.paced import paced_proxy

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_the_project_and_checks_every_output(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only=project,pillow-draft,limit",
            f"--results={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    [results] = report["images"].values()
    limit = "limit (djpeg, the same reduce, cjpeg)"
    assert set(results) == {
        "project, 1 core",
        "project, 2 cores",
        "Pillow draft() + resize",
        *([] if unavailable()["limit"] else [limit]),
    }
    for name, result in results.items():
        assert result["error"] is None, name
        assert result["sizes_ok"], name
        assert result["cpu_ms"] > 0 and result["peak_rss_mb"] > 0
        # A resize that keeps the picture: well above the ~10 dB of an unrelated image.
        assert min(result["psnr"].values()) > 30, name
    markdown = (tmp_path / "latest.md").read_text()
    assert "| project, 1 core |" in markdown
    # What docs/performance.md's Performance section is written from: the machine, the software,
    # the date, and the targets per image.
    machine = report["machine"]
    assert {"cpu", "cores", "python", "libvips", "date"} <= set(machine)
    for value in (machine["cpu"], f"Python {machine['python']}", machine["date"]):
        assert value in markdown
    assert f"libvips {machine['libvips']}" in markdown
    [targets] = report["targets"].values()
    assert targets["pillow_draft"]["at_most"] == 1.0 and "met" in targets["pillow_draft"]
    assert "#### Targets on" in markdown and "| x Pillow draft() (<= 1.00) |" in markdown


def _rotated_p3_photo(path: Path) -> Path:
    """A 1600x1200 photo-like JPEG with a Display P3 profile, stored turned (EXIF 6)."""
    import pyvips

    from bench import icc, images

    picture = images.synthetic(1200, 1600).gaussblur(1.5).cast("uchar")
    picture = picture.copy(interpretation="srgb")
    picture.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc.builtin("p3"))
    picture.set_type(pyvips.GValue.gint_type, "orientation", 6)
    picture.jpegsave(str(path), Q=92)
    return path


@pytest.mark.parametrize("worker", ["limit", "pillow-draft"])
def test_a_peer_turns_and_colour_manages_as_the_project_does(worker: str, tmp_path: Path) -> None:
    from bench.quality import Reference, check

    lacking = unavailable().get(worker)
    if lacking:  # the limit needs every one of its tools (bench.LIMIT_TOOLS)
        pytest.skip(
            f"{worker} needs {', '.join(lacking)} (apt-get install libjpeg-turbo-progs netpbm)"
        )
    source = _rotated_p3_photo(tmp_path / "turned-p3.jpg")
    psnr = {}
    for name in ("project", worker):
        subprocess.run(
            [sys.executable, "-m", "bench.workers", name, str(source), str(tmp_path / name)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        reference = Reference(source)
        for width in (300, 600, 900):
            ok, psnr[name, width] = check(
                reference, width, (tmp_path / name / f"{width}.jpg").read_bytes()
            )
            assert ok, (name, width)  # upright: 900 wide is 1200 high
    for width in (300, 600, 900):
        # The same work: within a rounding's worth of the project's pixels.
        assert abs(psnr[worker, width] - psnr["project", width]) < 0.3, (width, psnr)


def test_a_height_exactly_half_way_may_round_either_way(tmp_path: Path) -> None:
    from bench import images
    from bench.quality import Reference

    source = tmp_path / "3840x2400.jpg"
    images.synthetic(3840, 2400).jpegsave(str(source), Q=80)
    reference = Reference(source)

    assert reference.fits(900, (900, 562)) and reference.fits(900, (900, 563))  # 562.5
    assert not reference.fits(900, (900, 561)) and not reference.fits(600, (600, 376))


def test_paced_proxy_forwards_every_byte_and_holds_responses_to_its_rate():
    body = bytes(range(256)) * 8192  # 2 MB
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with paced_proxy(server.server_address[:2], bytes_per_s=20e6) as url:
            start = time.perf_counter()
            request = urllib.request.Request(url, data=body[::-1], method="PUT")
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = response.read()
            elapsed = time.perf_counter() - start
    finally:
        server.shutdown()

    assert received == [body[::-1]] and answer == body
    assert elapsed >= 0.9 * len(body) / 20e6  # 2 MB at 20 MB/s cannot come back sooner


def test_variants_split_in_two_fixed_halves_that_each_hold_every_kind() -> None:
    from bench import images

    halves = images.halves()
    tune, report = ({v.name for v in halves[h]} for h in ("tune", "report"))

    assert tune.isdisjoint(report)
    assert tune | report == {v.name for v in images.VARIANTS}
    assert abs(len(tune) - len(report)) <= 1
    assert images.halves() == halves  # chosen from the names alone: the same every run
    for half in halves.values():
        assert {v.profile for v in half} >= {"srgb", None} and {"p3", "adobe-rgb"} & {
            v.profile for v in half
        }
        assert {v.chroma for v in half} == {"444", "420"}
        assert any(v.orientation != 1 for v in half) and any(v.restart for v in half)
    assert {(v.width, v.height) for v in images.VARIANTS} >= {
        (4032, 3024),
        (3840, 2400),
        (3640, 2400),
    }


def test_a_variant_is_what_its_name_says(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    import pyvips

    from app.image.colour import is_srgb
    from bench import images

    monkeypatch.setattr(images, "CORPUS", corpus / "photos")
    variant = images.Variant("Kleiber", 4032, 3024, 92, "444", "p3", orientation=6, restart=16)
    path = tmp_path / variant.name
    variant.make(path)

    image = pyvips.Image.new_from_file(str(path))
    assert (image.width, image.height) == (3024, 4032)  # stored turned ...
    assert image.get("orientation") == 6  # ... and shown upright
    assert image.get("jpeg-chroma-subsample") == "4:4:4"
    assert not is_srgb(image.get("icc-profile-data"))
    assert b"\xff\xdd" in path.read_bytes()  # DRI: restart markers


def test_pillow_converts_a_profiled_image_to_srgb_as_the_reference_does(tmp_path: Path) -> None:
    import pyvips

    from bench import icc
    from bench.quality import Reference, check

    # Saturated colours in Display P3: read as sRGB, they are far off.
    x = pyvips.Image.xyz(1200, 800)[0] * 255 // 1199
    picture = x.bandjoin([255 - x, (x * 0) + 40]).cast("uchar").copy(interpretation="srgb")
    picture.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc.builtin("p3"))
    source = tmp_path / "p3.jpg"
    picture.jpegsave(str(source), Q=95, subsample_mode="off")
    out = tmp_path / "out"

    subprocess.run(
        [sys.executable, "-m", "bench.workers", "pillow-draft", str(source), str(out), "--runs=1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )

    reference = Reference(source)
    for width in (300, 600, 900):
        ok, psnr = check(reference, width, (out / f"{width}.jpg").read_bytes())
        assert ok and psnr > 35, (width, psnr)


def test_regression_bench_runs_both_revisions_on_the_same_photo(tmp_path: Path) -> None:

    from bench import images, regression

    known = subprocess.run(
        ["git", "cat-file", "-e", f"{regression.BEFORE_ISSUE_15}^{{commit}}"], cwd=ROOT, check=False
    )
    if known.returncode != 0:
        pytest.skip("the revision before issue 15 is not in this clone (a shallow clone?)")
    photo = tmp_path / "photo.jpg"
    images.synthetic(1200, 800).jpegsave(str(photo), Q=90)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.regression",
            "--quick",
            "--photos",
            str(photo),
            f"--results={tmp_path / 'results'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "results" / "regression.json").read_text())
    assert report["against_commit"] == regression.BEFORE_ISSUE_15
    assert report["contenders"] == ["old", "new", "new, MANIFEST=off"]
    row = report["photos"]["photo.jpg"]
    assert row["size"] == "1200x800"
    for label in report["contenders"]:
        assert row[label]["error"] is None, row[label]
        assert row[label]["cpu_ms"] > 0 and row[label]["first_cpu_ms"] > 0
        assert row[label]["import_cpu_ms"] > 0 and row[label]["runs"] == 1
    # The same copies from both revisions; the manifest only where it is on.
    copies = {f"photo-{w}.jpg" for w in (300, 600, 900)}
    assert set(row["old"]["written"]) == copies
    assert set(row["new, MANIFEST=off"]["written"]) == copies
    assert set(row["new"]["written"]) == copies | {"photo.json"}
    assert row["ratio"] == round(row["new"]["cpu_ms"] / row["old"]["cpu_ms"], 3)
    assert report["summary"]["ratio"] == row["ratio"]
    assert "| photo.jpg (1200x800) |" in (tmp_path / "results" / "regression.md").read_text()


def test_stages_set_the_project_beside_pillow_draft_stage_by_stage(tmp_path: Path) -> None:
    import pyvips

    from bench import icc
    from tests import images

    # Turned by EXIF and carrying a Display P3 profile: every stage either side runs.
    stored = pyvips.Image.new_from_buffer(images.with_orientation(6, 2400, 1600), "").copy()
    stored.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc.builtin("p3"))
    source = tmp_path / "turned-p3.jpg"
    stored.jpegsave(str(source), Q=90)

    done = subprocess.run(
        [sys.executable, "-m", "bench.stages", str(source), "--repeat=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    rows = dict(
        line.strip("|").rsplit("|", 1) for line in done.stdout.splitlines() if line.count("|") == 3
    )
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    for name in (
        "the manifest (placeholder, dominant colour; `MANIFEST=on`, the default)",
        "**the whole pipeline** (`pipeline.process`, bytes in memory)",
        "Pillow: decode at 1/2 (`draft()`: fast IDCT, plain upsampling)",
        "Pillow: turn upright (`exif_transpose`)",
        "Pillow: colour transform of the 900+600+300 copies",
        "Pillow: encode 900 wide, q80 (its default tables)",
        "**Pillow `draft()`, whole** (bench/workers.py)",
    ):
        assert float(rows[name]) > 0, name


def test_formats_benchmark_reports_the_curve_equal_quality_and_the_whole_set(
    tmp_path: Path,
) -> None:
    pytest.importorskip(
        "ssimulacra2", reason="the ssimulacra2 package (requirements/dev.txt) is not installed"
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.formats", "--quick", "--repeat=1", f"--results={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "formats.json").read_text())
    assert {p["format"] for p in result["points"]} == {"jpeg", "webp", "avif"}
    assert {p["width"] for p in result["points"]} == {300, 600, 900}
    for point in result["points"]:
        assert point["bytes"] > 0 and point["cpu_ms"] > 0 and 0 < point["score"] <= 100
    [row, *_] = result["equal"]["80"]
    assert {"image", "width", "score", "jpeg", "webp", "avif"} <= set(row)
    assert {"quality", "bytes", "saved"} <= set(row["avif"])
    assert all(1 <= w <= 100 and 1 <= a <= 100 for _, w, a in result["table"])
    assert {r["format"] for r in result["efforts_sweep"]} == {"webp", "avif"}
    assert set(result["chosen_effort"]) == {"webp", "avif"}
    whole = result["whole_set"]
    assert {"project, JPEG only", "project, JPEG+WebP+AVIF"} <= set(whole["cpu_ms"])
    assert whole["set_ratio"] > 0
    # Every format at every width: more bytes than the JPEGs alone.
    assert whole["bytes"]["project, JPEG+WebP+AVIF"] > whole["bytes"]["project, JPEG only"]
    report = (tmp_path / "formats.md").read_text()
    assert "### Formats: cost at equal quality" in report
    assert "The whole set in <= 2.0x JPEG alone's CPU" in report


def test_cold_start_reports_the_paired_ratio_beside_the_ratio_of_medians(tmp_path: Path) -> None:
    from bench import extras

    report: dict[str, dict[str, float]] = {}
    without_valgrind = {**extras.environment(), "PATH": str(tmp_path)}  # an empty folder

    markdown = extras.cold_start(without_valgrind, report, rounds=2)

    result = report["cold_start"]
    assert {
        "bare_imports_ms",
        "bare_imports_cpu_ms",
        "handler_init_ms",
        "handler_init_cpu_ms",
        "runtime_first_response_ms",
        "ratio_wall",
        "ratio_cpu",
        "paired_ratio_wall",
        "paired_ratio_cpu",
    } <= set(result)  # the keys earlier reports have, and the paired ratios
    assert result["rounds"] == 2 and result["target"] == extras.COLD_START_TARGET
    assert result["paired_ratio_wall"] > 0 and result["paired_ratio_cpu"] > 0
    assert "| the same, paired: the median of the rounds' own ratios |" in markdown
    # Without valgrind, one line says the instructions were not measured, and why.
    assert result["instructions_not_measured"] == "valgrind is not on PATH"
    assert "instructions_ratio" not in result
    assert "\n| instructions: not measured (valgrind is not on PATH) | | |\n" in markdown


def test_cold_start_counts_both_imports_in_instructions_under_valgrind() -> None:
    from bench import extras

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not on PATH (apt-get install valgrind)")
    report: dict[str, dict[str, float]] = {}

    markdown = extras.cold_start(extras.environment(), report, rounds=1)

    result = report["cold_start"]
    assert "instructions_not_measured" not in result
    assert result["bare_imports_instructions"] > 0 and result["handler_init_instructions"] > 0
    assert result["instructions_ratio"] == (
        result["handler_init_instructions"] / result["bare_imports_instructions"]
    )
    [row] = [line for line in markdown.splitlines() if line.startswith("| instructions, ")]
    assert f"(<= {extras.COLD_START_TARGET}) | | " in row
    assert re.search(r"\| \d+\.\d\dx [✓✗] \|$", row)
