"""The memory model and budget: every object takes its estimate; together they never exceed it.

That each estimate covers what the decoder really holds is measured in
tests/integration/test_memory_peak.py (bench/memory.py, in fresh processes).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time

import images
import pytest
import pyvips

from app.errors import BadImage, InputTooLarge, TransientError
from app.image import heif_brand
from app.image.imaging import Header, SizeSpec, read_header
from app.image.memory import COSTS, MB, MemoryBudget, cost_class, estimate
from app.renditions import decoded

DEFAULT = (SizeSpec(300), SizeSpec(600), SizeSpec(900))


def header_of(data: bytes) -> Header:
    return read_header(pyvips.Source.new_from_memory(data), 10**9, "x")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (images.jpeg(400, 300), "jpeg"),
        (images.progressive_jpeg(400, 300), "jpeg progressive subsampled"),
        (
            bytes(images.upright(400, 300).jpegsave_buffer(interlace=True, subsample_mode="off")),
            "jpeg progressive",
        ),
        (images.png(400, 300), "png"),
        (bytes(images.upright(400, 300).pngsave_buffer(interlace=True)), "png interlaced"),
        (images.sixteen_bit_png(), "png deep or alpha"),
        (images.alpha_png(), "png deep or alpha"),
        (images.webp(400, 300), "webp"),
        (images.avif(400, 300), "heif"),
        (images.gif(400, 300), "gif"),
        (images.animated_gif(), "gif animated"),
        (bytes(images.upright(400, 300).tiffsave_buffer()), "tiff"),
    ],
)
def test_each_loader_falls_in_its_measured_class(data: bytes, expected: str):
    assert cost_class(header_of(data)) == expected
    assert expected in COSTS


def test_every_decode_takes_memory_even_a_streaming_one():
    assert estimate(header_of(images.jpeg(400, 300)), 10_000, DEFAULT, ("jpeg",)) >= 8 * MB


def test_the_estimate_grows_with_pixels_and_with_what_the_decoder_holds():
    small = Header(2000, 1500, "heifload_source", 1)
    large = Header(8000, 6000, "heifload_source", 1)
    baseline = Header(8000, 6000, "jpegload_source", 1)
    progressive = Header(8000, 6000, "jpegload_source", 1, interlaced=True, subsampled=True)

    def mb(header: Header) -> float:
        return estimate(header, None, DEFAULT, ("jpeg",)) / MB

    # An AVIF holds ~15 bytes a pixel; a progressive JPEG its coefficients; a baseline streams.
    assert mb(large) > 600 and mb(large) > 10 * mb(small) / 2
    assert mb(baseline) < 40 < mb(progressive) < mb(large)


def test_a_loader_that_reads_the_whole_object_counts_its_bytes():
    header = Header(2000, 1500, "webpload_source", 1)
    assert estimate(header, 50 * MB, DEFAULT, ("webp",)) >= estimate(
        header, 0, DEFAULT, ("webp",)
    ) + (100 * MB)


def test_large_outputs_count_their_encode():
    header = Header(8000, 6000, "jpegload_source", 1)
    wide = (SizeSpec(8000),)
    assert (
        estimate(header, None, wide, ("avif",))
        > estimate(header, None, DEFAULT, ("avif",)) + 100 * MB
    )


def test_budget_comes_from_the_lambda_memory_size():
    assert MemoryBudget.for_lambda("1769").total == (1769 - 256) * MB
    assert MemoryBudget.for_lambda("1024").total == (1024 - 256) * MB
    assert MemoryBudget.for_lambda(None).total is None  # not in Lambda: no limit
    with MemoryBudget.for_lambda(None).hold(10**12, "x"):
        pass


def test_holders_wait_so_that_the_total_is_never_exceeded():
    budget = MemoryBudget(100)
    held, peak, lock = [0], [0], threading.Lock()

    def work(amount: int) -> None:
        with budget.hold(amount, "x"):
            with lock:
                held[0] += amount
                peak[0] = max(peak[0], held[0])
            time.sleep(0.02)
            with lock:
                held[0] -= amount

    threads = [threading.Thread(target=work, args=(a,)) for a in (60, 60, 30, 40, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert peak[0] <= 100 and held[0] == 0


def test_more_than_the_whole_budget_fails_with_both_numbers():
    with (
        pytest.raises(
            InputTooLarge, match=r"needs about 200 MB to decode; the function can give 100 MB"
        ),
        MemoryBudget(100 * MB).hold(200 * MB, "s3://b/k.jpg"),
    ):
        pass


RELEASE = """
from pathlib import Path
from app.image.memory import release_freed

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024

blocks = [bytes(600) for _ in range(300_000)]  # on malloc's heap (past Python's 512)
kept = blocks[::100]  # pins the heap: nothing is freed back from its top
del blocks
freed = rss()
release_freed()
print(freed, rss())
"""


def test_release_freed_gives_freed_heap_memory_back_to_the_system():
    out = subprocess.run(
        [sys.executable, "-c", RELEASE],
        env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    before, after = map(int, out.stdout.split())
    assert before - after > 100, (before, after)  # of ~180 MB held for reuse


# --- what is asked of the budget, and when ------------------------------------------------


def test_a_wait_for_memory_ends_at_its_deadline_with_a_sentence():
    budget = MemoryBudget(100 * MB)
    with budget.hold(80 * MB, "s3://b/first.jpg"):
        until = time.monotonic() + 0.2
        with (
            pytest.raises(TransientError) as raised,
            budget.hold(40 * MB, "s3://b/second.jpg", until),
        ):
            pass
        assert time.monotonic() >= until
    assert str(raised.value) == (
        "s3://b/second.jpg waited for 40 MB of memory until the Lambda deadline: other "
        "objects held 80 of 100 MB; left for a retry"
    )
    with budget.hold(100 * MB, "s3://b/third.jpg", time.monotonic()):  # all free again
        pass


HEIC_HEAD = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"heic", 0, b"mif1", b"heic")


class Counted:
    """A stream of `size` bytes that starts like a HEIC photo, counting what is read."""

    def __init__(self, size: int) -> None:
        self.data = HEIC_HEAD + bytes(size - len(HEIC_HEAD))
        self.at = 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.at : self.at + n]
        self.at += len(chunk)
        return chunk


def test_a_heic_without_heic_support_is_refused_before_it_is_read_whole(monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # the build without the variant
    stream = Counted(50 * MB)

    with pytest.raises(BadImage, match="this image was built without HEIC support"):
        decoded.opened(stream.read, len(stream.data), "s3://b/k.heic", 10**8)

    assert stream.at == heif_brand.PEEK_BYTES  # its first bytes only


def test_a_heic_claims_its_bytes_before_it_is_read_whole():
    stream = Counted(5 * MB)
    claimed: list[tuple[int, int]] = []

    with pytest.raises(BadImage):  # not a real photo past its first box
        decoded.opened(
            stream.read,
            len(stream.data),
            "s3://b/k.heic",
            10**8,
            lambda size: claimed.append((size, stream.at)),
        )

    assert claimed == [(2 * len(stream.data), heif_brand.PEEK_BYTES)]
    assert stream.at == len(stream.data)
