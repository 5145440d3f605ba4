"""Tasks done and failed, a bar and an ETA: redrawn in place on a terminal, else a line
every EVERY_TASKS tasks or EVERY_S seconds (logs and CI keep every line readable)."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30  # characters of the bar
EVERY_S = 10.0


class Progress:
    """Draws `done` of `total` tasks; call `update` as tasks end and `close` at the end."""

    def __init__(self, stream: TextIO, total: int | None, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty() if tty is None else tty
        self.every = max(1, (total or 0) // 20)  # about twenty lines for a whole run
        self.started = time.monotonic()
        self._shown_at = 0.0
        self._shown_done = -1

    def update(self, done: int, failed: int, total: int | None = None) -> None:
        """Show the count now (a terminal), or when a line is due (anything else)."""
        if total is not None:
            self.total = total
            self.every = max(1, total // 20)
        now = time.monotonic()
        due = (
            done != self._shown_done
            and (done - max(self._shown_done, 0) >= self.every or now - self._shown_at >= EVERY_S)
        ) or done == self.total
        if self.tty:
            self.stream.write("\r" + self.line(done, failed, now) + "\x1b[K")
            self.stream.flush()
        elif due and done != self._shown_done:
            self.stream.write(self.line(done, failed, now) + "\n")
            self.stream.flush()
        else:
            return
        self._shown_at, self._shown_done = now, done

    def close(self) -> None:
        """End the redrawn line, so what follows starts on its own."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, done: int, failed: int, now: float | None = None) -> str:
        """`[#####-----] 50/100 tasks (2 failed)  12.5/s  ETA 0:00:04`."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if not self.total:
            return f"{done} tasks ({failed} failed)  {rate:.1f}/s  (total not known yet)"
        filled = round(WIDTH * min(done, self.total) / self.total)
        bar = "#" * filled + "-" * (WIDTH - filled)
        if done >= self.total:
            eta = f"took {_clock(elapsed)}"
        elif rate > 0:
            eta = f"ETA {_clock((self.total - done) / rate)}"
        else:
            eta = "ETA --:--"
        return f"[{bar}] {done}/{self.total} tasks ({failed} failed)  {rate:.1f}/s  {eta}"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
