"""A memory budget shared by the objects of one execution environment.

Most decodes stream and hold little (a baseline JPEG of any size stays under
about 100 MB in all), but some formats make the decoder hold the whole image
first: a progressive JPEG keeps every DCT coefficient (about 2 bytes per pixel
and channel), an interlaced PNG, a GIF, WebP or AVIF the whole bitmap. Such an
object takes its estimate from the budget before decoding and gives it back
after, so that objects decoded at once never add up past the function's
memory; one that could never fit fails at once, with both numbers named.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.errors import InputTooLarge

MB = 1024 * 1024
# What the runtime, the libraries and the streaming decode of one object take beside it.
RESERVED_BYTES = 256 * MB


class MemoryBudget:
    """`total` bytes that decodes may hold at once (None: no limit, as on a laptop)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._free = total or 0
        self._cond = threading.Condition()

    @classmethod
    def for_lambda(cls, memory_size_mb: str | None) -> MemoryBudget:
        """The budget of a function of `memory_size_mb` (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)."""
        if not memory_size_mb or not memory_size_mb.isdigit():
            return cls(None)
        return cls(max(0, int(memory_size_mb) * MB - RESERVED_BYTES))

    @contextmanager
    def hold(self, needed: int, name: str) -> Iterator[None]:
        """Hold `needed` bytes while the block runs; wait while others hold too much."""
        if self.total is None or needed == 0:
            yield
            return
        if needed > self.total:
            raise InputTooLarge(
                f"{name} needs about {needed / MB:,.0f} MB to decode; the function can give "
                f"{self.total / MB:,.0f} MB (its memory size less {RESERVED_BYTES // MB} MB): "
                "raise the memory size or lower MAX_INPUT_PIXELS"
            )
        with self._cond:
            self._cond.wait_for(lambda: self._free >= needed)
            self._free -= needed
        try:
            yield
        finally:
            with self._cond:
                self._free += needed
                self._cond.notify_all()
