"""The one progress reporter of the programs and the dataset tools: a line with rate and
ETA on stderr. No dependencies (no TensorFlow)."""

import sys
import time

__all__ = ["Progress"]


def _hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """`with Progress(total, "Writing") as p: ... p.update(n)` (or without `with`: the line is
    finished when the count reaches `total`).

    On a terminal it redraws one line at most 10 times a second; otherwise (logs, CI) it prints
    a line every 10% so log files stay short. `enabled=False` silences it.

    Args:
      total: the expected count (0 or None: unknown; then only the count and rate are shown).
      desc: what is being counted, the start of the line.
      enabled: False for no output at all.
      stream: where to write (default: sys.stderr).
    """

    def __init__(self, total, desc="", enabled=True, stream=None):
        self.total, self.desc, self.enabled = int(total or 0), desc, enabled
        self.stream = stream or sys.stderr
        self.count = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._tty = getattr(self.stream, "isatty", lambda: False)()
        self._next_decile = 1
        self._finished = False

    def update(self, n=1):
        """Counts `n` more items."""
        self.count += n
        if not self.enabled or self._finished:
            return
        now = time.monotonic()
        if self._tty:
            if self.total and self.count >= self.total:
                self._finish()
            elif now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw("\r", "")
        elif self.total and self.count * 10 >= self._next_decile * self.total:
            while self.count * 10 >= self._next_decile * self.total:
                self._next_decile += 1
            self._draw("", "\n")
            self._finished = self.count >= self.total

    def _finish(self):
        self._finished = True
        self._draw("\r", "\n")

    def _draw(self, prefix, suffix):
        elapsed = time.monotonic() - self._start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, self.count / self.total)
            bar = "#" * int(frac * 24) + "-" * (24 - int(frac * 24))
            eta = _hms(max(self.total - self.count, 0) / rate) if rate > 0 else "?"
            line = f"{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f}/s ETA {eta}"
        else:
            line = f"{self.desc} {self.count} {rate:.1f}/s"
        self.stream.write(f"{prefix}{line:<79}{suffix}")
        self.stream.flush()

    def close(self):
        """Ends the line on a terminal (a count short of `total` stays visible)."""
        if self.enabled and self._tty and not self._finished:
            self._finish()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
