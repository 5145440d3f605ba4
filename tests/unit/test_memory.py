"""The memory budget: whole-image decodes wait for each other and never exceed it."""

from __future__ import annotations

import threading
import time

import images
import pytest
import pyvips

from app.errors import InputTooLarge
from app.imaging import read_header
from app.memory import MB, MemoryBudget


def header_of(data: bytes):
    return read_header(pyvips.Source.new_from_memory(data), 10**9, "x")


def test_only_whole_image_decodes_take_memory():
    assert header_of(images.jpeg(400, 300)).decode_bytes == 0
    assert header_of(images.png(400, 300)).decode_bytes == 0
    assert header_of(images.progressive_jpeg(400, 300)).decode_bytes == 400 * 300 * 3 * 2
    assert header_of(images.webp(400, 300)).decode_bytes == 400 * 300 * 3


def test_budget_comes_from_the_lambda_memory_size():
    assert MemoryBudget.for_lambda("1769").total == (1769 - 256) * MB
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
