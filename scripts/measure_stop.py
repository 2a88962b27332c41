"""Measures how long sg2tf-train takes from SIGTERM to its exit (a preemption notice's budget).

    python scripts/measure_stop.py --data=datasets/shapes256 --repeats=3 -- --cfg=paper256 --batch=4
    python scripts/measure_stop.py --parts --resolution=256 -- --cfg=paper256 --batch=4

Starts `sg2tf-train` with the flags after `--` (plus a tick per step, no snapshots), waits
until two steps have run (the step functions are compiled), sends SIGTERM at a random moment
of a step and times the exit. Prints per repeat the step time (from the tick lines), the time
from the signal to the exit, and what the program itself reported (`written N s after the
signal`); a JSON line with all of it at the end.

`--parts` measures what a graceful stop waits for, without compiling the step functions
(which takes long on a CPU): the trainer of those options runs its steps eagerly (the same
operations, traced by no one) on random images, and its checkpoint is written as a stop
writes it. The time from a signal to the exit is at most one step plus the checkpoint write
(plus the process's exit).
"""

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def measure_once(data, flags, rng, outdir):
    args = [sys.executable, "-m", "sg2tf.cli.train", f"--data={data}", f"--outdir={outdir}", "--kimg=100000"]
    args += ["--snap=0", "--tick_kimg=0.001"] + flags  # a tick (and its sec/kimg) after every step
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ticks, lines = [], []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("tick "):
            ticks.append(time.monotonic())
            if len(ticks) == 3:
                break
    if len(ticks) < 3:
        raise SystemExit("sg2tf-train ended before its third step:\n" + "".join(lines[-20:]))
    step = ticks[2] - ticks[1]
    time.sleep(rng.uniform(0, step))
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    code = proc.wait()
    took = time.monotonic() - sent
    reported = re.search(r"written ([\d.]+) s after the signal", rest)
    return dict(
        exit_status=code,
        step_s=round(step, 2),
        signal_to_exit_s=round(took, 2),
        reported_s=float(reported.group(1)) if reported else None,
    )


def measure_parts(flags, resolution):
    """`{step_s: [...], checkpoint_s, checkpoint_bytes}` of the eager steps and one checkpoint."""
    import os
    import time

    import tensorflow as tf
    from absl import flags as absl_flags

    from sg2tf.cli import train as train_cli
    from sg2tf.cli import train_flags  # noqa: F401 (defines the flags)
    from sg2tf.training import checkpoints, options, setup

    absl_flags.FLAGS(["measure_stop"] + flags)
    given = dict(train_cli.given_options(), resolution=resolution, outdir=tempfile.mkdtemp(prefix="sg2tf-parts-"))
    opts = options.resolve(given)
    trainer = setup.build_trainer(opts)
    tf.config.run_functions_eagerly(True)
    reals = tf.random.uniform([opts.batch, resolution, resolution, 3], -1, 1)
    labels = tf.zeros([opts.batch, opts.c_dim])
    steps = []
    for _ in range(3):  # the first with both regularization phases, then plain steps
        start = time.monotonic()
        trainer.train_step(reals, labels)
        steps.append(round(time.monotonic() - start, 2))
    manager = checkpoints.CheckpointManager(given["outdir"], trainer.checkpoint_objects())
    start = time.monotonic()
    path = manager.save(opts.batch, {})
    took = time.monotonic() - start
    size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
    shutil.rmtree(given["outdir"], ignore_errors=True)
    return dict(step_s=steps, checkpoint_s=round(took, 2), checkpoint_bytes=size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a TFRecord dataset (not with --parts)")
    parser.add_argument("--parts", action="store_true", help="eager steps and a checkpoint write, no compiling")
    parser.add_argument("--resolution", type=int, default=256, help="--parts: image size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("flags", nargs="*", help="sg2tf-train flags (after --)")
    args = parser.parse_args()
    if args.parts:
        print(
            json.dumps(dict(flags=args.flags, resolution=args.resolution, **measure_parts(args.flags, args.resolution)))
        )
        return
    rng = random.Random(args.seed)
    results = []
    for i in range(args.repeats):
        outdir = tempfile.mkdtemp(prefix="sg2tf-measure-stop-")
        try:
            results.append(measure_once(args.data, args.flags, rng, outdir))
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        print(f"repeat {i + 1}: {results[-1]}", flush=True)
    print(json.dumps(dict(flags=args.flags, results=results)))


if __name__ == "__main__":
    main()
