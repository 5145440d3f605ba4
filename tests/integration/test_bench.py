"""The benchmark still runs and checks what it claims to (not how fast: that is its report)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.paced import paced_proxy

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_the_project_and_checks_every_output(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only=project,pillow-draft",
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
    assert set(results) == {"project, 1 core", "project, 2 cores", "Pillow draft() + resize"}
    for name, result in results.items():
        assert result["error"] is None, name
        assert result["sizes_ok"], name
        assert result["cpu_ms"] > 0 and result["peak_rss_mb"] > 0
        # A resize that keeps the picture: well above the ~10 dB of an unrelated image.
        assert min(result["psnr"].values()) > 30, name
    assert "| project, 1 core |" in (tmp_path / "latest.md").read_text()


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

    from app.colour import is_srgb
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
