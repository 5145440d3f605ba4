"""ANIMATION=keep: animated GIF and WebP stay animated, every frame resized, within limits.

Run through the function's own pipeline on local files (the store behind
`python -m app resize`), so the configuration, the one decode and the writes are real.
"""

from __future__ import annotations

import re
from pathlib import Path

import images
import pytest
import pyvips

from app.config import settings as config
from app.image import imaging, memory
from app.image.memory import MB, MemoryBudget
from app.localfiles import LocalStore
from app.model import ObjectRef, Outcome
from app.renditions import pipeline


def process(tmp_path: Path, name: str, data: bytes, **env: str) -> tuple[Outcome, Path]:
    """Process one file named `name` as the function would; return its outcome and --out."""
    path = tmp_path / name
    path.write_bytes(data)
    settings = config.load({"RESIZE_WIDTHS": "160", **env})
    out = tmp_path / "out"
    store = LocalStore({settings.source_prefix + name: path}, out, settings.output_prefix)
    ref = ObjectRef("", settings.source_prefix + name, label=str(path))
    outcome = pipeline.process(ref, settings, store)
    return outcome, out


def timing(data: bytes) -> tuple[list[int], int]:
    image = pyvips.Image.new_from_buffer(data, "", n=-1)
    return list(image.get("delay")), image.get("loop")


@pytest.mark.parametrize(
    ("source", "fmt"), [("gif", "source"), ("gif", "webp"), ("webp", "source")]
)
def test_kept_animation_has_every_frame_resized_with_its_delays_and_loop(
    tmp_path: Path, source: str, fmt: str
) -> None:
    data = images.animation(source, 320, 240, delays=(80, 160, 240), loop=3)

    outcome, out = process(tmp_path, f"anim.{source}", data, ANIMATION="keep", OUTPUT_FORMATS=fmt)

    assert outcome.status == "processed", outcome.reason
    ext = source if fmt == "source" else fmt
    copy = (out / f"anim-160.{ext}").read_bytes()
    assert images.load(copy).get("vips-loader").startswith(ext)
    frames = images.frames_of(copy)
    assert [(f.width, f.height) for f in frames] == [(160, 120)] * 3
    assert timing(copy) == ([80, 160, 240], 3)
    # Each frame is its own picture: upright, negative, upside down.
    assert images.top_left_is_red(frames[0])
    assert not images.is_red(frames[1](5, 5)) and not images.top_left_is_red(frames[1])
    assert images.is_red(frames[2](5, 115)) and not images.is_red(frames[2](5, 5))
    assert (outcome.outputs[0].width, outcome.outputs[0].height) == (160, 120)


def test_first_frame_is_the_default(tmp_path: Path) -> None:
    data = images.animation("gif", 320, 240)

    outcome, out = process(tmp_path, "anim.gif", data)

    assert outcome.status == "processed", outcome.reason
    frames = images.frames_of((out / "anim-160.gif").read_bytes())
    assert len(frames) == 1 and images.top_left_is_red(frames[0])


def test_still_formats_take_the_first_frame_of_a_kept_animation(tmp_path: Path) -> None:
    data = images.animation("gif", 320, 240)

    outcome, out = process(
        tmp_path, "anim.gif", data, ANIMATION="keep", OUTPUT_FORMATS="jpeg,webp,avif"
    )

    assert outcome.status == "processed", outcome.reason
    assert len(images.frames_of((out / "anim-160.webp").read_bytes())) == 3
    for ext in ("jpg", "avif"):
        copy = images.load((out / f"anim-160.{ext}").read_bytes())
        assert (copy.width, copy.height) == (160, 120)
        assert images.top_left_is_red(copy)


def test_frames_are_resized_apart_so_none_bleeds_into_the_next(tmp_path: Path) -> None:
    red = pyvips.Image.black(300, 200).new_from_image([230, 0, 0]).cast("uchar")
    blue = pyvips.Image.black(300, 200).new_from_image([0, 0, 230]).cast("uchar")
    data = images.animation("webp", delays=(100, 100), frames=[red, blue])

    _, out = process(tmp_path, "anim.webp", data, ANIMATION="keep", RESIZE_WIDTHS="100")

    first, second = images.frames_of((out / "anim-100.webp").read_bytes())
    # The rows next to the seam keep their own frame's colour.
    assert first(50, first.height - 1)[2] < 20 and second(50, 0)[0] < 20


def test_a_cover_crop_cuts_every_frame_in_the_same_place(tmp_path: Path) -> None:
    data = images.animation("gif", 320, 240, delays=(100, 100, 100))

    _, out = process(
        tmp_path, "anim.gif", data, ANIMATION="keep", RESIZE_WIDTHS="100x100:cover", CROP="centre"
    )

    frames = images.frames_of((out / "anim-100x100-cover.gif").read_bytes())
    assert [(f.width, f.height) for f in frames] == [(100, 100)] * 3
    # 320x240 -> 133x100, 16 columns cut on the left: the red block (33x25) shows at x 0-16.
    assert images.is_red(frames[0](5, 5)) and not images.is_red(frames[0](30, 5))
    assert images.is_red(frames[2](5, 95)) and not images.is_red(frames[2](30, 95))


def test_too_many_frames_are_refused_with_the_limit_named(tmp_path: Path) -> None:
    data = images.animation("gif", 64, 48)

    outcome, out = process(tmp_path, "anim.gif", data, ANIMATION="keep", MAX_FRAMES="2")

    assert (outcome.status, outcome.reason) == (
        "failed",
        f"{tmp_path}/anim.gif is an animation of 3 frames; limit is 2 (MAX_FRAMES) "
        "with ANIMATION=keep",
    )
    assert not out.exists()


def test_an_animation_over_the_pixel_limit_in_all_is_refused(tmp_path: Path) -> None:
    data = images.animation("gif", 320, 240)  # 76,800 pixels a frame, 230,400 in all

    outcome, _ = process(tmp_path, "anim.gif", data, ANIMATION="keep", MAX_INPUT_PIXELS="150000")

    assert (outcome.status, outcome.reason) == (
        "failed",
        f"{tmp_path}/anim.gif is an animation of 3 frames of 320x240 (0.2 MP in all); "
        "limit is 0.1 MP for all frames together (MAX_INPUT_PIXELS) with ANIMATION=keep",
    )
    # The first frame alone is within the limit: the default takes it.
    assert process(tmp_path, "anim.gif", data, MAX_INPUT_PIXELS="150000")[0].status == ("processed")


def test_every_frame_counts_against_the_memory_budget(tmp_path: Path) -> None:
    # 3 frames of 640x480 and of 160x120, RGBA: 3.9 MB; the first frame alone: 1.2 MB.
    data = images.animation("gif", 640, 480)
    path = tmp_path / "anim.gif"
    path.write_bytes(data)
    header = imaging.read_header(pyvips.Source.new_from_memory(data), 10**8, "anim.gif")
    still = memory.estimate(header, len(data), (imaging.SizeSpec(160),), ("gif",))
    budget = MemoryBudget(still + MB)  # the first frame fits; every frame does not

    def run(**env: str) -> Outcome:
        settings = config.load({"RESIZE_WIDTHS": "160", **env})
        key = settings.source_prefix + "anim.gif"
        store = LocalStore({key: path}, tmp_path / "out", settings.output_prefix)
        return pipeline.process(ObjectRef("", key, label=str(path)), settings, store, None, budget)

    kept = run(ANIMATION="keep")

    assert kept.status == "failed"
    assert re.fullmatch(
        f"{re.escape(str(path))} needs about [0-9]+ MB to decode; the function can give "
        f"{round((still + MB) / MB)} MB \\(its memory size less 256 MB\\): raise the memory "
        "size or lower MAX_INPUT_PIXELS",
        str(kept.reason),
    ), kept.reason
    assert run().status == "processed"
