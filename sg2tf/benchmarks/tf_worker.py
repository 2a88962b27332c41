"""Timing worker for sg2tf (used by `sg2tf-bench compare`): `python -m sg2tf.benchmarks.tf_worker`.

Flags (set before TensorFlow initialises): `--inter=N`, `--intra=N` (TensorFlow's thread
pools; 0 = TensorFlow's default). The environment (e.g. `TF_ENABLE_ONEDNN_OPTS`) comes
from the driver.

Commands, one JSON object per line on stdin, replies on stdout (see `pytorch_worker.py`):

  {"cmd": "setup", "task": "generator", "config": NAME, "batch": N, "mode": MODE,
   "ops": "ref"}   MODE as in `sg2tf-bench generator` (saved_model, function, ...)
  {"cmd": "setup", "task": "train", "raw": {option: value}, "ops": ...}
      one timed unit is one cycle of `d_reg_interval` training steps
  {"cmd": "time", "n": K}
  {"cmd": "quit"}
"""

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from sg2tf.benchmarks.worker_protocol import serve


def _calls_per_unit(seconds, min_unit_s):
    return max(1, int(-(-min_unit_s // max(seconds, 1e-6))))


class GeneratorTask:
    _cache = {}  # config -> (G, workdir): one network and export per config and process

    def __init__(self, config, batch, mode, ops, min_unit_s=0.0):
        # deferred: sg2tf.benchmarks.generator and .train both define --ops; import one per task
        from sg2tf.benchmarks import generator

        if config not in self._cache:
            G = generator.build_generator(config)
            self._cache[config] = (G, tempfile.mkdtemp(prefix=f"sg2tf-compare-{config}-"))
        G, workdir = self._cache[config]
        self.params = int(sum(np.prod(v.shape) for v in G.trainable_variables))
        self.fn = generator._callables(G, mode, batch, workdir, ops=ops)
        self.fn()  # warm-up
        start = time.perf_counter()
        self.fn()
        # Short calls are repeated within a unit (at least min_unit_s per unit).
        self.calls = _calls_per_unit(time.perf_counter() - start, min_unit_s)
        self.images = batch * self.calls

    def unit(self):
        for _ in range(self.calls):
            self.fn()

    @classmethod
    def cleanup(cls):
        for _, workdir in cls._cache.values():
            shutil.rmtree(workdir, ignore_errors=True)


class TrainTask:
    def __init__(self, raw, ops):
        from sg2tf.benchmarks import train  # deferred: see GeneratorTask (both define --ops)

        self.trainer, self.reals, self.labels, self.opts = train.build(raw, ops)
        self.cycle = self.opts.d_reg_interval
        self.params = int(
            sum(np.prod(v.shape) for m in (self.trainer.G, self.trainer.D) for v in m.trainable_variables)
        )
        self.unit()  # warm-up: every phase combination is traced

    def unit(self):
        out = None
        for _ in range(self.cycle):
            out = self.trainer.train_step(self.reals, self.labels)
        float(np.asarray(out["loss_D"]))  # wait for the last step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inter", type=int, default=0)
    parser.add_argument("--intra", type=int, default=0)
    args = parser.parse_args()

    if args.inter:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    if args.intra:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra)

    def make_task(cmd):
        if cmd["task"] == "generator":
            ops = cmd.get("ops") or "ref"
            return GeneratorTask(cmd["config"], cmd["batch"], cmd["mode"], ops, cmd.get("min_unit_s", 0.0))
        return TrainTask(cmd["raw"], cmd.get("ops"))

    def runtime():
        return {
            "tensorflow": tf.__version__,
            "inter": tf.config.threading.get_inter_op_parallelism_threads(),
            "intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        }

    try:
        serve(make_task, runtime, max_error_chars=500)
    finally:
        GeneratorTask.cleanup()


if __name__ == "__main__":
    main()
