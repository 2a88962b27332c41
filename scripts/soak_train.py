"""Soak test of training under machine faults: a run killed many times reaches its target exactly.

    python scripts/soak_train.py --workdir=/tmp/soak --faults=20 --seed=0

Trains a very small network on a small synthetic dataset twice with `sg2tf-train`: once
uninterrupted (the reference), and once as a preemptible machine would, in a loop that
always runs the same command (`--resume=latest`) until it exits 0, while faults are injected
at random moments: SIGKILL and SIGTERM during training, SIGKILL and SIGTERM while a checkpoint
or a network snapshot is being written (seen by its temporary directory appearing), a second
SIGTERM during the graceful stop, and once the newest checkpoint damaged (truncated) between
two launches. Every exit must be one the loop can retry (0, 75, or killed by the signal sent);
anything else needs a human and fails the soak. At the end the final checkpoint must equal the
reference's bit for bit (weights, optimizer state, counters, random state).

Prints one line per launch and a summary (faults by kind, launches, wall time, signal-to-exit
times of the graceful stops) and writes it to WORKDIR/soak.json. Exit status 0 when the final
state is identical, 1 otherwise.
"""

import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

KINDS = (
    "sigkill",
    "sigterm",
    "sigkill-in-checkpoint",
    "sigterm-in-checkpoint",
    "sigkill-in-snapshot",
    "sigterm-twice",
    "damage-newest-checkpoint",
)
# A very small network (8x8, one mapping layer) with one step function per launch (no
# path length, R1 only at step 0, no augmentation): every launch compiles, and on a busy
# 2-core machine that is most of a launch. A checkpoint and a snapshot every 5 steps.
OPTIONS = dict(
    cfg="tiny",
    resolution=8,
    fmap_base=64,
    fmap_max=32,
    w_dim=16,
    mapping_layers=1,
    batch=4,
    mbstd_group=2,
    pl_weight=0,
    g_reg_interval=0,
    d_reg_interval=1000,
    aug="noaug",
    noise_mode="random",
    seed=3,
    tick_kimg=0.02,
    snap=1,
    grid_seeds=4,
    shuffle_buffer=8,
    keep_checkpoints=3,
)
# sg2tf-train with Grappler off (tiny graphs compile about twice as fast).
LAUNCH = (
    "import sys, tensorflow as tf; "
    "tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True}); "
    "from sg2tf.cli.train import run; sys.argv[0] = 'sg2tf-train'; run()"
)


def command(data, outdir, options, resume):
    args = [sys.executable, "-c", LAUNCH, f"--data={data}", f"--outdir={outdir}"]
    args += [f"--{k}={v}" for k, v in options.items()]
    return args + (["--resume=latest"] if resume else [])


def final_checkpoint(outdir):
    from sg2tf.training import checkpoints

    run = checkpoints.latest_run_dir(outdir)
    return checkpoints.latest_checkpoint(run) if run else None


def checkpoint_state(ckpt):
    """Every tensor of checkpoint directory `ckpt` but the object graph and the data iterator's
    state (a variant: a wrong data position shows in the weights of the steps after it)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(ckpt, "state"))
    dtypes = reader.get_variable_to_dtype_map()
    return {k: reader.get_tensor(k) for k, dtype in dtypes.items() if dtype != tf.variant and "OBJECT_GRAPH" not in k}


def differing_tensors(a, b):
    import numpy as np

    sa, sb = checkpoint_state(a), checkpoint_state(b)
    return sorted(set(sa) ^ set(sb)) + [k for k in sorted(set(sa) & set(sb)) if not np.array_equal(sa[k], sb[k])]


def _wait_for(pattern, proc, deadline):
    """Polls until a path matches `pattern` (True) or the process ends or time runs out."""
    while time.monotonic() < deadline and proc.poll() is None:
        if glob.glob(pattern):
            return True
        time.sleep(0.005)
    return False


def launch_with_fault(args, kind, outdir, rng, max_delay):
    """Runs one launch and injects `kind` (None: none); returns `(exit status, seconds from the
    first signal to the exit or None, whether the fault happened)`."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sent, hit = None, False
    try:
        started = "tick " if kind in ("sigkill", "sigterm", "sigterm-twice") else "training for"
        for line in proc.stdout:  # random signals come after a tick of this launch: progress
            if line.startswith(started):
                break
        if kind in ("sigkill", "sigterm", "sigterm-twice"):
            time.sleep(rng.uniform(0, max_delay))
            if proc.poll() is None:
                sig = signal.SIGKILL if kind == "sigkill" else signal.SIGTERM
                proc.send_signal(sig)
                sent, hit = time.monotonic(), True
                if kind == "sigterm-twice":
                    time.sleep(rng.uniform(0, 1.0))
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
        elif kind in ("sigkill-in-checkpoint", "sigterm-in-checkpoint", "sigkill-in-snapshot"):
            where = "checkpoints/.ckpt-*.tmp-*" if "checkpoint" in kind else ".network-snapshot-*.tmp-*"
            if _wait_for(os.path.join(outdir, "*", where), proc, time.monotonic() + 600):
                proc.send_signal(signal.SIGTERM if kind.startswith("sigterm") else signal.SIGKILL)
                sent, hit = time.monotonic(), True
        proc.stdout.read()
        code = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, (time.monotonic() - sent if sent is not None and code == 75 else None), hit


def damage_newest_checkpoint(outdir):
    """Truncates the newest checkpoint's data file, when an older one is there to resume from
    (with none, a damaged run needs a human: that is an error of its own)."""
    from sg2tf.training import checkpoints

    run = checkpoints.latest_run_dir(outdir)
    if run is None or len(checkpoints.list_checkpoints(run)) < 2:
        return False
    data = glob.glob(os.path.join(checkpoints.latest_checkpoint(run), "state.data-*"))[0]
    os.truncate(data, os.path.getsize(data) // 2)
    return True


def make_dataset(path):
    from sg2tf.data import synthetic, writer

    if not os.path.isdir(path):
        writer.write_dataset(path, synthetic.synthetic_source(24, resolution=16, seed=0), progress=False)
    return path


def soak(workdir, faults=20, kimg=1.0, seed=0, max_delay=8.0, kinds=KINDS, options=None, data=None, reference=None):
    """Runs the soak; returns its summary dict (`identical`: the final states agree).

    `options` (default `OPTIONS`), `data` (default: a synthetic dataset made in `workdir`) and
    `reference` (the uninterrupted run's final checkpoint; default: trained here) let a test
    reuse a run it has; `kinds` limits the faults drawn.
    """
    rng = random.Random(seed)
    options = dict(options or OPTIONS, kimg=kimg)
    os.makedirs(workdir, exist_ok=True)
    data = data or make_dataset(os.path.join(workdir, "shapes"))
    soaked = os.path.join(workdir, "soaked")
    if reference is None:
        outdir = os.path.join(workdir, "reference")
        reference = final_checkpoint(outdir)
        if reference is None or not reference.endswith(f"{int(kimg * 1000):012d}"):
            shutil.rmtree(outdir, ignore_errors=True)
            subprocess.run(command(data, outdir, options, False), check=True, capture_output=True)
            reference = final_checkpoint(outdir)
    shutil.rmtree(soaked, ignore_errors=True)

    start = time.monotonic()
    counts, stops, launches, needs_human = {}, [], 0, []
    damaged = False
    while True:
        done = sum(counts.values())
        kind = None
        if done < faults:
            kind = rng.choice([k for k in kinds if k != "damage-newest-checkpoint" or not (damaged or done == 0)])
        if kind == "damage-newest-checkpoint":
            damaged = damage_newest_checkpoint(soaked)
            counts[kind] = counts.get(kind, 0) + damaged
            print(f"fault {done + 1}: {kind}" if damaged else f"{kind}: no older checkpoint yet, skipped", flush=True)
            continue
        code, stop_time, hit = launch_with_fault(command(data, soaked, options, True), kind, soaked, rng, max_delay)
        launches += 1
        if hit:
            counts[kind] = counts.get(kind, 0) + 1
        if stop_time is not None:
            stops.append(round(stop_time, 2))
        ckpt = final_checkpoint(soaked)
        print(
            f"launch {launches}: {kind or 'no fault'}{'' if hit else ' (missed)'}: exit {code}; newest {ckpt}",
            flush=True,
        )
        if code not in (0, 75, -signal.SIGKILL, -signal.SIGTERM, 128 + signal.SIGTERM):
            needs_human.append(code)
            break
        if code == 0:  # the target reached (a fault that came too late missed)
            break
    ours, theirs = final_checkpoint(soaked), reference
    differ = differing_tensors(ours, theirs) if ours and ours.endswith(os.path.basename(theirs)) else ["(no final)"]
    summary = dict(
        faults=sum(counts.values()),
        by_kind=counts,
        launches=launches,
        kimg=kimg,
        wall_s=round(time.monotonic() - start, 1),
        graceful_stop_s=stops,
        needs_human=needs_human,
        final=ours,
        reference=theirs,
        differing_tensors=differ[:10],
        identical=not differ and not needs_human,
    )
    print(json.dumps(summary), flush=True)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="where the dataset and both runs go")
    parser.add_argument("--faults", type=int, default=20, help="faults to inject")
    parser.add_argument("--kimg", type=float, default=1.0, help="training length (batch 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault schedule")
    parser.add_argument("--max_delay", type=float, default=8.0, help="latest random signal after a first tick (s)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    summary = soak(args.workdir, args.faults, args.kimg, args.seed, args.max_delay)
    with open(os.path.join(args.workdir, "soak.json"), "w") as f:
        json.dump(summary, f, indent=1)
    sys.exit(0 if summary["identical"] else 1)


if __name__ == "__main__":
    main()
