"""One contender, one image, in a process of its own: `python -m bench.workers NAME IMAGE ...`.

The parent starts a fresh process per contender and round, pinned to one CPU or not,
and reads its peak RSS from `wait4`. This process times `runs` repetitions (after one
untimed warm-up) of "bytes in memory -> one encoded JPEG per width" and prints one JSON
line: wall and CPU milliseconds per run and peak RSS; the last run's outputs go to OUT.

Imports happen inside each contender, so that a process holds only its own libraries.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from app.aws.objects import Download, Head
    from app.model import ObjectRef

T = TypeVar("T")
QUALITY = 80
WIDTHS = (300, 600, 900)  # the function's default RESIZE_WIDTHS
Outputs = list[tuple[int, bytes]]  # (width asked for, encoded JPEG)


def project(data: bytes, widths: list[int], manifest: bool = False) -> Callable[[], Outputs]:
    """This project's own pipeline (`pipeline.process`), on a store that lives in memory.

    Without its manifest (`MANIFEST=off`) unless asked: the peers make the copies only.
    """
    from app.config.settings import load
    from app.image import imaging
    from app.model import ObjectRef
    from app.renditions import pipeline

    imaging.configure_libvips()
    settings = load(
        {
            "RESIZE_WIDTHS": ",".join(map(str, widths)),
            "OUTPUT_FORMAT": "jpeg",
            "MANIFEST": "on" if manifest else "off",
        }
    )
    store = MemoryStore(data)
    ref = ObjectRef("bench", "images/photo.jpg", len(data))

    def run() -> Outputs:
        store.written.clear()
        outcome = pipeline.process(ref, settings, store)
        if outcome.status != "processed":
            raise SystemExit(f"project: {outcome.status}: {outcome.reason}")
        return [(w, store.written[o.key]) for w, o in zip(widths, outcome.outputs, strict=True)]

    return run


class MemoryStore:
    """What `pipeline.process` reads and writes, in memory: `data` is every source (a
    JPEG as far as its HEAD says), and what is put is kept in `written` by key."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.written: dict[str, bytes] = {}

    def head(self, ref: ObjectRef) -> Head:
        from app.aws.objects import Head

        return Head(len(self.data), "etag", "image/jpeg", {})

    def open(self, ref: ObjectRef, head: Head) -> Download:
        from app.aws.objects import Download

        return Download(ref, len(self.data), "etag", "image/jpeg", {}, io.BytesIO(self.data))

    def existing(self, bucket: str, key: str) -> None:
        return None

    def delete(self, bucket: str, key: str, **condition: object) -> None:
        self.written.pop(key, None)

    def put(self, bucket: str, key: str, data: bytes, **attributes: object) -> None:
        self.written[key] = data


def project_with_manifest(data: bytes, widths: list[int]) -> Callable[[], Outputs]:
    """The project as it is deployed by default: the copies and their manifest."""
    return project(data, widths, manifest=True)


def pillow_tutorial(data: bytes, widths: list[int]) -> Callable[[], Outputs]:
    """Pillow as the AWS tutorial writes it: open, `thumbnail()`, save, for each size."""
    from PIL import Image

    def run() -> Outputs:
        outputs = []
        for width in widths:
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail((width, image.height))
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=QUALITY)
            outputs.append((width, buffer.getvalue()))
        return outputs

    return run


def pillow_draft(data: bytes, widths: list[int]) -> Callable[[], Outputs]:
    """Pillow at its best: one `draft()` decode at the DCT scale, then one resize per width.

    An image with an ICC profile is converted to sRGB (`ImageCms`, as the project and
    sharp do), each copy after its resize, where pixels are fewest; unless the profile
    is sRGB in all but name, which the project does not convert either (the same
    decision, `colour.is_srgb`, cached after the warm-up as the project's is).
    """
    from PIL import Image, ImageCms, ImageOps

    from app.image import colour

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

    def run() -> Outputs:
        with Image.open(io.BytesIO(data)) as image:
            turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            upright = image.size[::-1] if turned else image.size
            largest = max(widths)
            needed = (largest, round(upright[1] * largest / upright[0]))
            image.draft("RGB", needed[::-1] if turned else needed)
            embedded = image.info.get("icc_profile")
            decoded = ImageOps.exif_transpose(image.convert("RGB"))
        transform = None
        if embedded and not colour.is_srgb(embedded):
            profile = ImageCms.ImageCmsProfile(io.BytesIO(embedded))
            transform = ImageCms.buildTransform(profile, srgb, "RGB", "RGB")
        outputs = []
        for width in widths:
            size = (
                (width, round(upright[1] * width / upright[0])) if width < upright[0] else upright
            )
            resized = decoded.resize(size, Image.Resampling.LANCZOS)
            if transform:
                resized = ImageCms.applyTransform(resized, transform)
            buffer = io.BytesIO()
            resized.save(buffer, "JPEG", quality=QUALITY)
            outputs.append((width, buffer.getvalue()))
        return outputs

    return run


def limit(data: bytes, widths: list[int]) -> Callable[[], Outputs]:
    """The least work any resizer must do for the project's outputs, each part done by
    the fastest tool at hand:

    - decode at the DCT scale the project takes (`imaging.jpeg_shrink`) with
      libjpeg-turbo's `djpeg`; a PNG, which has no scaled decode, whole with netpbm's
      `pngtopnm`;
    - the same pixel work as the project, with its own functions on the decoded
      pixels held in memory: one Lanczos-3 reduce to the largest width, the turn
      upright (EXIF), the ICC transform when the profile is not sRGB, and a resize per
      smaller width from that;
    - encode each output with `cjpeg` (same quality, Huffman-optimised as the project's
      are).

    Each part is timed on inputs prepared beforehand, untimed (the decoded pixels, the
    outputs' PPM files), so no pipe or file copy is counted. What starting a tool costs
    is measured on a 1x1 image and taken off (`STARTUP`).
    """
    import atexit
    import os
    import shutil
    import tempfile

    import pyvips

    from app.image import imaging
    from app.image.imaging import SizeSpec

    work = Path(tempfile.mkdtemp(prefix="bench-limit-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    source = work / "source"
    source.write_bytes(data)
    header = imaging.read_header(pyvips.Source.new_from_memory(data), 10**10, "bench")
    specs = [SizeSpec(w) for w in sorted(widths, reverse=True)]
    largest = specs[0].scaled(header.width, header.height)
    if header.kind == "jpeg":
        shrink = imaging.jpeg_shrink(header, *largest)
        decoded = pyvips.Image.jpegload_buffer(data, shrink=shrink)
        commands = [["djpeg", "-scale", f"1/{shrink}", "-outfile", os.devnull, str(source)]]
    else:
        shrink = 1
        decoded = pyvips.Image.new_from_buffer(data, "")
        commands = [["pngtopnm", str(source)]]
    decoded = decoded.copy_memory()

    def pixels() -> dict[int, pyvips.Image]:
        """Every output's pixels, from the decode, as the project makes them."""
        image = imaging._reduced(decoded, header, shrink, *largest)
        image = imaging._finished(image, flatten=True)
        return {s.width: imaging.sized(image, header, s, "centre") for s in specs}

    outputs = []
    for width, small in pixels().items():
        ppm, out = work / f"{width}.ppm", work / f"{width}.jpg"
        ppm.write_bytes(b"P6 %d %d 255\n" % (small.width, small.height) + small.write_to_memory())
        commands.append(
            ["cjpeg", "-quality", str(QUALITY), "-optimize", "-outfile", str(out), str(ppm)]
        )
        outputs.append((width, out))

    tiny = work / "tiny.ppm"
    tiny.write_bytes(b"P6 1 1 255\n\0\0\0")
    null_runs = [
        _timed(lambda: _tool(["cjpeg", "-outfile", os.devnull, str(tiny)])) for _ in range(9)
    ]
    STARTUP["wall_ms"] = sorted(w for _, w, _ in null_runs)[4] * len(commands)
    STARTUP["cpu_ms"] = sorted(c for _, _, c in null_runs)[4] * len(commands)

    def run() -> Outputs:
        _tool(commands[0])
        pixels()
        for command in commands[1:]:
            _tool(command)
        return [(width, out.read_bytes()) for width, out in sorted(outputs)]

    return run


STARTUP = {"wall_ms": 0.0, "cpu_ms": 0.0}  # process start-up inside a contender's timings


def _tool(command: list[str]) -> None:
    import subprocess

    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _timed(action: Callable[[], T]) -> tuple[T, float, float]:
    """`action`'s result, and its wall and CPU milliseconds, counting this process and
    its children."""
    import resource

    def cpu() -> float:
        own = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own + children.ru_utime + children.ru_stime

    start_wall, start_cpu = time.perf_counter(), cpu()
    result = action()
    return result, (time.perf_counter() - start_wall) * 1000, (cpu() - start_cpu) * 1000


CONTENDERS = {
    "limit": limit,
    "project": project,
    "project-manifest": project_with_manifest,
    "pillow-tutorial": pillow_tutorial,
    "pillow-draft": pillow_draft,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=CONTENDERS)
    parser.add_argument("image", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    data = args.image.read_bytes()
    widths = [int(w) for w in args.widths.split(",")]
    run = CONTENDERS[args.name](data, widths)
    outputs = run()  # warm-up: first-call costs (codec tables, pools) are not per image
    wall, cpu = [], []
    for _ in range(args.runs):
        outputs, run_wall, run_cpu = _timed(run)
        wall.append(run_wall - STARTUP["wall_ms"])
        cpu.append(run_cpu - STARTUP["cpu_ms"])
    args.out.mkdir(parents=True, exist_ok=True)
    for width, encoded in outputs:
        (args.out / f"{width}.jpg").write_bytes(encoded)
    json.dump({"wall_ms": wall, "cpu_ms": cpu, "peak_rss_mb": peak_rss_mb()}, sys.stdout)


def peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM). Not `ru_maxrss`: Linux carries that
    over from the parent across fork and exec, so a large parent would show through."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
