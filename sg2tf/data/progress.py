"""A dependency-free progress bar with rate and ETA, on stderr."""

import sys
import time


def _hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """`with Progress(total, "Writing") as p: ... p.update()`.

    On a terminal it redraws one line at most 10 times a second; otherwise (logs, CI) it prints
    a line every 10% so log files stay short. `enabled=False` silences it.
    """

    def __init__(self, total, desc="", enabled=True, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self.count = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._tty = getattr(self.stream, "isatty", lambda: False)()
        self._next_decile = 1

    def update(self, n=1):
        self.count += n
        if not self.enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.count == self.total:
                self._last_draw = now
                self._draw("\r", "")
        elif self.total and self.count * 10 >= self._next_decile * self.total:
            while self.count * 10 >= self._next_decile * self.total:
                self._next_decile += 1
            self._draw("", "\n")

    def _draw(self, prefix, suffix):
        elapsed = time.monotonic() - self._start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, self.count / self.total)
            bar = "#" * int(frac * 24) + "-" * (24 - int(frac * 24))
            eta = _hms((self.total - self.count) / rate) if rate > 0 else "?"
            line = f"{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f}/s ETA {eta}"
        else:
            line = f"{self.desc} {self.count} {rate:.1f}/s"
        self.stream.write(f"{prefix}{line:<79}{suffix}")
        self.stream.flush()

    def close(self):
        if self.enabled and self._tty:
            self._draw("\r", "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
