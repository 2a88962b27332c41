"""Per-tick statistics: averages of the step statistics, stats.jsonl, TensorBoard, log.txt."""

import json
import os
import resource
import time

import numpy as np
import tensorflow as tf


def peak_memory_gib():
    """`(host_peak_rss_gib, device_peak_gib or None)`."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    dev = None
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        try:
            dev = max(tf.config.experimental.get_memory_info(g.name)["peak"] for g in gpus) / 2**30
        except (ValueError, RuntimeError):
            dev = None
    return rss, dev


class TickStats:
    """Accumulates the per-step stat dicts (tensors) of one tick; averages on `collect`."""

    def __init__(self):
        self.steps = []

    def add(self, stats):
        self.steps.append(stats)

    def collect(self):
        values = {}
        for step in self.steps:
            for k, v in step.items():
                values.setdefault(k, []).append(float(np.asarray(v)))
        self.steps = []
        return {k: float(np.mean(v)) for k, v in values.items()}


class Logger:
    """Writes log.txt (tee of stdout lines), stats.jsonl and TensorBoard scalars (chief only)."""

    def __init__(self, run_dir, enabled=True):
        self.run_dir = run_dir
        self.enabled = enabled
        self.log = open(os.path.join(run_dir, "log.txt"), "a") if enabled else None
        self.tb = tf.summary.create_file_writer(run_dir) if enabled else None

    def print(self, line):
        if not self.enabled:
            return
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def write(self, line):
        """Writes a line to log.txt only (it was printed already)."""
        if self.enabled:
            self.log.write(line + "\n")
            self.log.flush()

    def truncate_stats(self, max_tick):
        """Drops stats.jsonl lines of ticks after `max_tick` (work lost since a checkpoint)."""
        path = os.path.join(self.run_dir, "stats.jsonl")
        if not self.enabled or not os.path.exists(path):
            return
        with open(path) as f:
            keep = [line for line in f if line.strip() and json.loads(line).get("tick", 0) <= max_tick]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(keep)
        os.replace(tmp, path)

    def tick(self, record):
        if not self.enabled:
            return
        with open(os.path.join(self.run_dir, "stats.jsonl"), "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        step = int(round(record["kimg"] * 1000))
        with self.tb.as_default(step=step):
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("tick",):
                    tf.summary.scalar(k, v)
        self.tb.flush()

    def scalars(self, values, step):
        """TensorBoard scalars `{tag: value}` at `step` (images shown)."""
        if not self.enabled:
            return
        with self.tb.as_default(step=step):
            for k, v in values.items():
                tf.summary.scalar(k, v)
        self.tb.flush()

    def close(self):
        if self.enabled:
            self.log.close()
            self.tb.close()


def tick_line(record, eta, show_skipped=False):
    """The printed line of a tick `record` (as `Logger.tick` stores it). `eta` None: every step of
    the tick compiled a step function, so its time says nothing of the pace: sec/kimg and ETA
    show `-`. Skipped steps (non-finite gradients: a float16 overflow, or a bad batch) are shown
    once there are any, and always with `show_skipped` (float16, with its loss scales)."""
    rss, dev = record["host_peak_gib"], record.get("device_peak_gib")
    mem = f"host {rss:.2f} GiB" + (f", device {dev:.2f} GiB" if dev is not None else "")
    loss_G, loss_D = (float("nan") if record.get(k) is None else record[k] for k in ("loss_G", "loss_D"))
    line = (
        f"tick {record['tick']:<5d} kimg {record['kimg']:<8.3f} time {format_time(record['time']):<8s} "
        + (
            f"sec/kimg {record['sec_per_kimg']:<7.2f} ETA {format_time(eta):<8s} "
            if eta is not None
            else f"sec/kimg {'- (compiling)':<15s} ETA {'-':<8s} "
        )
        + f"loss G {loss_G:.3f} D {loss_D:.3f} "
        f"p {record['augment_p']:.3f} mem {mem}"
    )
    skipped = record.get("skipped_steps", 0)
    if skipped or show_skipped:
        line += f" skipped {skipped}"
        if "loss_scale_G" in record:
            line += f" (loss scale G {record['loss_scale_G']:g} D {record['loss_scale_D']:g})"
    return line


def format_time(seconds):
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02d}m"
    return f"{s // 86400}d {(s // 3600) % 24:02d}h"


class Timer:
    def __init__(self):
        self.start = time.time()

    def __call__(self):
        return time.time() - self.start
