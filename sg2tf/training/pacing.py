"""Progress that fits the machine: step times without compilation, and early progress lines.

A tick (`--tick_kimg`, 4 kimg by default as in the originals) can take an hour on a CPU, and
its first steps include compiling the step functions (one per combination of regularization
phases, 10-40 s each on a CPU for small networks). `Pace` times every step, keeps the
steps that compiled a step function apart, and

- gives the tick line its sec/kimg and ETA from the other steps (`tick_seconds`);
- prints a progress line of its own a minute into training when no tick has ended yet, then
  after 2, 4, 8, ... minutes until one does (`interim`), so a first line never waits for a
  whole tick.
"""

import time

from sg2tf.training.stats import format_time

FIRST_LINE_S = 60.0


class Pace:
    """Step timing of one training process.

    Args:
      trainer: the `Trainer` (its step functions are counted to see which steps compiled).
      first_line_s: seconds into training of the first interim line.
    """

    def __init__(self, trainer, first_line_s=FIRST_LINE_S):
        self.trainer = trainer
        self.compile_s = 0.0  # compiling steps in the current tick
        self.compile_total_s = 0.0
        self.run_s, self.run_nimg = 0.0, 0  # the other steps, since the last interim line or tick
        self.ticked = False
        self.interval = first_line_s
        self.next_line = time.time() + first_line_s

    def step(self, fn, *args, nimg):
        """Runs `fn(*args)`, a training step of `nimg` images, timing it; returns its result."""
        compiled = len(self.trainer._step_fns)  # a new key: this step traced and compiled one
        start = time.time()
        out = fn(*args)
        took = time.time() - start
        if len(self.trainer._step_fns) > compiled:
            self.compile_s += took
            self.compile_total_s += took
        else:
            self.run_s += took
            self.run_nimg += nimg
        return out

    def sec_per_kimg(self):
        """Seconds per kimg of the steps that compiled nothing, None before there is one."""
        return self.run_s / self.run_nimg * 1000 if self.run_nimg else None

    def tick_seconds(self, tick_time):
        """The tick's wall time less its compiling steps (all of it when every step compiled);
        starts the next tick's count."""
        self.ticked = True
        spent = tick_time - self.compile_s if self.run_nimg else tick_time
        self.compile_s, self.run_s, self.run_nimg = 0.0, 0.0, 0
        return spent

    def interim(self, cur_nimg, total_nimg, tick_end_nimg, print_line):
        """Prints a progress line (`print_line(text)`) when one is due: no tick has ended yet
        in this process and the next interim time has come."""
        if self.ticked or time.time() < self.next_line:
            return
        self.next_line = time.time() + 2 * self.interval
        self.interval *= 2
        rate = self.sec_per_kimg()
        pace = (
            "sec/kimg -"
            if rate is None
            else f"sec/kimg {rate:.2f} ETA {format_time(rate * (total_nimg - cur_nimg) / 1000)}"
        )
        print_line(
            f"progress: kimg {cur_nimg / 1000:.3f} (tick ends at {tick_end_nimg / 1000:g}) {pace} "
            f"(compiling took {self.compile_total_s:.0f} s)"
        )
