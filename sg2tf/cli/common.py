"""Helpers shared by the command-line programs."""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class UsageError(Exception):
    """A bad flag or input file: printed as one line, exit code 2."""


def fail(message, code=2):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def start(argv, ops=None):
    """What every program does first: refuse stray arguments, select the op implementation."""
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    if ops:
        from sg2tf.ops import dispatch

        dispatch.set_impl(ops)


class Progress:
    """A one-line progress bar with rate and ETA on stderr (quiet when not a TTY
    except for the final line)."""

    def __init__(self, total, label="", stream=None):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.time()
        self.done = 0
        self.last = 0.0

    def update(self, n=1):
        self.done += n
        now = time.time()
        if now - self.last < 0.5 and self.done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (f"\r{self.label} {self.done}/{self.total} "
                f"[{elapsed:5.1f}s, {rate:6.2f}/s, ETA {eta:5.1f}s]")
        if self.stream.isatty() or self.done >= self.total:
            self.stream.write(line + ("\n" if self.done >= self.total else ""))
            self.stream.flush()
