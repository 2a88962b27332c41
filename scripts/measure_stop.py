"""Measures how long sg2tf-train takes from SIGTERM to its exit (a preemption notice's budget).

    python scripts/measure_stop.py --data=datasets/shapes256 --repeats=3 -- --cfg=paper256 --batch=4

Starts `sg2tf-train` with the flags after `--` (plus a tick per step, no snapshots), waits
until two steps have run (the step functions are compiled), sends SIGTERM at a random moment
of a step and times the exit. Prints per repeat the step time (from the tick lines), the time
from the signal to the exit, and what the program itself reported (`written N s after the
signal`); a JSON line with all of it at the end.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a TFRecord dataset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("flags", nargs="*", help="sg2tf-train flags (after --)")
    args = parser.parse_args()
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
