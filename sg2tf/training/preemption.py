"""A graceful stop for training: SIGTERM or SIGINT finish the step, write a checkpoint, exit 75.

Cloud machines send SIGTERM some 30 s before they are taken away, cluster schedulers before
a job's time runs out, and Ctrl-C sends SIGINT. Inside `StopRequest` the first of these
signals asks the training loop to stop after the step in progress; the loop writes a
checkpoint at the image count reached and raises `TrainingStopped` (exit status 75,
sysexits' EX_TEMPFAIL: "try again later", what a retry loop around `--resume=latest` waits
for; a kill by a signal reads 128 + its number). A second signal stops at once (status
128 + the signal's number, no checkpoint: the previous one is intact).

The signals are seen by a watcher thread through `signal.set_wakeup_fd`, the moment they
arrive, even while the main thread is inside a long TensorFlow call; Python's own handlers
would run only when that call returns. With several workers (`MultiWorkerMirroredStrategy`)
the workers agree before every step (`StopRequest.agreed`: a cross-worker sum of the flags), so a
signal to any one of them stops all at the same step and they write the checkpoint together
(the chief publishes it).
"""

import os
import signal
import socket
import threading
import time

import tensorflow as tf

from sg2tf.errors import UserError

SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOPPED_EXIT_CODE = 75
_active = []  # the StopRequest the program entered, if any


class TrainingStopped(UserError):
    """Training stopped on a signal after writing a checkpoint; `--resume=latest` continues it."""

    exit_code = STOPPED_EXIT_CODE


class StopRequest:
    """Context manager: while active, the first of `signals` requests a stop, a second one
    ends the process at once.

    Attributes:
      signum: the first signal's number, or None.
      received: `time.monotonic()` when it arrived (to report the time to stop).

    Outside the main thread (where Python cannot install handlers) it is inactive. A library
    does not take a process's signals behind its caller's back: sg2tf-train enters a
    StopRequest around `train`, and the loop asks `active()`.
    """

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.signum = None
        self.received = None
        self._saved = None

    @property
    def requested(self):
        return self.signum is not None

    def agreed(self, strategy=None, num_workers=1):
        """Whether to stop now: this process was signalled or, with several workers, any
        worker was. Every worker must call it equally often (it is a collective then)."""
        if num_workers <= 1:
            return self.requested

        flag = tf.constant(1.0 if self.requested else 0.0)
        result = strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("SUM", flag))
        return bool(strategy.experimental_local_results(result)[0].numpy() > 0)

    def name(self):
        return signal.Signals(self.signum).name if self.signum is not None else None

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        handlers = {s: signal.signal(s, _ignore) for s in self.signals}
        wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._saved = (handlers, wakeup, writer)
        threading.Thread(target=self._watch, args=(reader,), name="sg2tf-stop-signals", daemon=True).start()
        _active.append(self)
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return
        handlers, wakeup, writer = self._saved
        self._saved = None
        _active.remove(self)
        signal.set_wakeup_fd(wakeup)
        for s, handler in handlers.items():
            signal.signal(s, handler)
        writer.close()  # ends the watcher

    def _watch(self, reader):
        with reader:
            while True:
                try:
                    data = reader.recv(64)
                except OSError:
                    return
                if not data:
                    return
                for signum in data:
                    if signum in self.signals:
                        self._on_signal(signum)

    def _on_signal(self, signum):
        if self.signum is None:
            self.signum, self.received = signum, time.monotonic()
            name = signal.Signals(signum).name
            _say(f"{name}: stopping after this step and writing a checkpoint (again to stop at once)")
            return
        _say(f"{signal.Signals(signum).name} again: stopping at once, without a checkpoint")
        os._exit(128 + signum)


def active():
    """The `StopRequest` the program entered, else one that is never requested."""
    return _active[-1] if _active else StopRequest()


def stop_training(stop, manager, nimg, metadata, log):
    """Ends a training loop that left on `stop`: a checkpoint at image count `nimg` (unless
    the loop wrote it just now), one line on `log`, then raises `TrainingStopped`."""
    path = os.path.join(manager.root, f"ckpt-{int(nimg):012d}")
    if manager.saved_nimg != int(nimg):
        path = manager.save(nimg, metadata) or path
    why = f"by {stop.name()}" if stop.requested else "(another worker was signalled)"
    after = f" {time.monotonic() - stop.received:.1f} s after the signal" if stop.requested else ""
    line = (
        f"stopped {why} at {nimg / 1000:g} kimg: checkpoint {path} written{after}; "
        f"continue with --resume=latest (exit status {STOPPED_EXIT_CODE})"
    )
    log.print(line)
    log.close()
    raise TrainingStopped(line)


def _ignore(signum, frame):
    """Python-level handler: the watcher thread acts on the signal (installing one keeps the
    default action, ending the process, from happening)."""


def _say(line):
    # os.write, not print: the main thread may hold sys.stdout's lock.
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass
