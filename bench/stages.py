"""Where the project's time goes: `python -m bench.stages [IMAGE] [--repeat 15]`.

Each stage of the pipeline, alone, on one core (pinned, with `VIPS_CONCURRENCY=1`, as
`scripts/bench.sh --stages` runs it), best CPU milliseconds of
`--repeat` interleaved rounds (noise only ever adds). The stages add up to about the whole.

Then the same stages of Pillow `draft()` (bench/workers.py), like with like: the decode
at the same DCT scale, each width resized from it, its colour transform if the image
carries a profile, each width encoded. Pillow's `draft()` decodes with libjpeg's fast
integer IDCT and without fancy upsampling (its JpegDecode.c), from its own
libjpeg-turbo; libvips decodes with mozjpeg (the `pyvips-binary` wheel's).
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyvips

from app.image import imaging
from app.model import ObjectRef, Output
from app.renditions import manifest
from bench import images, workers

WIDTHS = sorted(workers.WIDTHS, reverse=True)  # the largest first, as it is decoded


def best_ms(stages: list[tuple[str, Callable[[], Any]]], rounds: int) -> list[tuple[str, float]]:
    """Each stage's best CPU milliseconds, in interleaved rounds (one run of every stage a
    round), so that a burst of noise on the machine hits every stage alike."""
    for _, action in stages:
        action()  # warm-up
    best = [float("inf")] * len(stages)
    for _ in range(rounds):
        for i, (_, action) in enumerate(stages):
            start = time.process_time()
            action()
            best[i] = min(best[i], time.process_time() - start)
    return [(name, ms * 1000) for (name, _), ms in zip(stages, best, strict=True)]


def pillow_stages(data: bytes, shrink: int) -> list[tuple[str, Callable[[], Any]]]:
    """Pillow `draft()`'s stages, as bench/workers.py runs them, at the DCT scale 1/`shrink`."""
    from PIL import Image, ImageCms, ImageOps

    def opened() -> Any:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (image.width // shrink, image.height // shrink))
        return image

    with opened() as image:
        turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
        embedded = image.info.get("icc_profile")
        raw = image.convert("RGB")
    decoded = ImageOps.exif_transpose(raw)
    upright = decoded.size
    sizes = {w: (w, round(upright[1] * w / upright[0])) for w in WIDTHS}
    resized = {w: decoded.resize(sizes[w], Image.Resampling.LANCZOS) for w in WIDTHS}

    def decode() -> None:
        with opened() as image:
            image.convert("RGB")

    stages: list[tuple[str, Callable[[], Any]]] = [
        (f"Pillow: decode at 1/{shrink} (`draft()`: fast IDCT, plain upsampling)", decode),
    ]
    if turned:
        stages.append(
            ("Pillow: turn upright (`exif_transpose`)", lambda: ImageOps.exif_transpose(raw))
        )
    for w in WIDTHS:
        stages.append(
            (
                f"Pillow: resize {decoded.width} -> {w} (Lanczos)",
                lambda s=sizes[w]: decoded.resize(s, Image.Resampling.LANCZOS),
            )
        )
    if embedded:
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        profile = ImageCms.ImageCmsProfile(io.BytesIO(embedded))
        transform = ImageCms.buildTransform(profile, srgb, "RGB", "RGB")
        stages.append(
            (
                f"Pillow: colour transform of the {'+'.join(map(str, WIDTHS))} copies",
                lambda: [ImageCms.applyTransform(r, transform) for r in resized.values()],
            )
        )
    for w in WIDTHS:
        stages.append(
            (
                f"Pillow: encode {w} wide, q{workers.QUALITY} (its default tables)",
                lambda r=resized[w]: r.save(io.BytesIO(), "JPEG", quality=workers.QUALITY),
            )
        )
    stages.append(
        ("**Pillow `draft()`, whole** (bench/workers.py)", workers.pillow_draft(data, list(WIDTHS)))
    )
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages")
    parser.add_argument("image", nargs="?", type=Path, default=images.CORPUS / images.BASE)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    data = args.image.read_bytes()
    imaging.configure_libvips()
    specs = tuple(imaging.SizeSpec(w) for w in WIDTHS)

    def source() -> pyvips.Source:
        return imaging.stream_source(io.BytesIO(data).read)

    header = imaging.read_header(source(), 10**10, "bench")
    big = max(s.fit(header.width, header.height) for s in specs)
    shrink = imaging.jpeg_shrink(header, *big) if header.kind == "jpeg" else 1
    decoded = imaging.decode(source(), header, specs, "bench", flatten=True)
    # Each width's pixels, as the pipeline resizes them: what each encode starts from.
    sizes = {w: imaging.SizeSpec(w).fit(header.width, header.height) for w in WIDTHS}
    sized = {w: imaging._resize(decoded, *sizes[w]).copy_memory() for w in WIDTHS[1:]}
    sized[WIDTHS[0]] = decoded

    def load_only(streamed: bool = False) -> None:
        loaded = source() if streamed else pyvips.Source.new_from_memory(data)
        options = {"shrink": shrink} if header.kind == "jpeg" else {}
        pyvips.Image.new_from_source(loaded, "", access="sequential", **options).copy_memory()

    def header_only() -> None:
        imaging.read_header(source(), 10**10, "bench")

    stages: list[tuple[str, Callable[[], Any]]] = [
        ("read the header (pixel limit, orientation)", header_only),
        (f"decode at 1/{shrink} from bytes in memory ({header.width // shrink} wide)", load_only),
        (
            "the same decode, streamed from read() calls (libvips reads 4 KB at a time)",
            lambda: load_only(streamed=True),
        ),
        (
            f"the same, streamed, plus the reduce to {big[0]} (`imaging.decode`)",
            lambda: imaging.decode(source(), header, specs, "b", flatten=True),
        ),
    ]
    for w in WIDTHS[1:]:
        stages.append(
            (
                f"resize {big[0]} -> {w}",
                lambda s=sizes[w]: imaging._resize(decoded, *s).copy_memory(),
            )
        )
    for w, image in sorted(sized.items(), reverse=True):
        stages.append(
            (
                f"encode {w} wide, q{workers.QUALITY}, Huffman-optimised",
                lambda i=image: imaging._encode(i, "jpeg", workers.QUALITY),
            )
        )
        stages.append(
            (
                f"encode {w} wide, q{workers.QUALITY}, standard Huffman tables",
                lambda i=image: i.jpegsave_buffer(Q=workers.QUALITY, keep="none"),
            )
        )
    outputs = tuple(
        Output(f"copy/{w}.jpg", sized[w].width, sized[w].height, 10_000, "image/jpeg")
        for w in WIDTHS
    )
    ref = ObjectRef("bench", "images/photo.jpg", len(data))
    stages.append(
        (
            "the manifest (placeholder, dominant colour; `MANIFEST=on`, the default)",
            lambda: manifest.build(ref, "etag", (header.width, header.height), outputs, decoded),
        )
    )
    stages.append(
        (
            "**the whole pipeline** (`pipeline.process`, bytes in memory)",
            workers.project(data, list(WIDTHS)),
        )
    )
    if header.kind == "jpeg":
        stages += pillow_stages(data, shrink)
    rows = best_ms(stages, args.repeat)
    print(f"#### Where the time goes: {args.image.name}, one core, best of {args.repeat}\n")
    print("| stage | CPU ms |\n|---|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
