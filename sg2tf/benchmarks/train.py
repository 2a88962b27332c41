"""`sg2tf-bench train`: sec/kimg and peak memory of the training step on synthetic data.

  sg2tf-bench train --cfg=tiny --resolution=32 --batch=16 --steps=16
  sg2tf-bench train --cfg=paper256 --resolution=256 --batch=8 --fp16_res=4 --xla
  sg2tf-bench train --cfg=demo --aug=noaug --channels=4:128,8:64,16:32,32:32

Runs one full lazy-regularization cycle (`d_reg_interval` steps, so every phase variant
is traced) as warm-up, then times `--steps` steps (default: one more full cycle, so the
G/D regularization phases are counted at their real frequency). `cpu_sec_per_kimg` is the
process's CPU time (all threads), which other jobs on a shared machine change much less
than the wall time.
"""

import time

import numpy as np
import tensorflow as tf
from absl import flags

from sg2tf.constants import AUG_MODES, LOW_PRECISIONS, NOISE_MODES, OP_IMPLS
from sg2tf.ops import dispatch
from sg2tf.training import options as options_lib
from sg2tf.training import stats
from sg2tf.training.setup import build_trainer, make_strategy

flags.DEFINE_string("cfg", "tiny", "Preset.")
flags.DEFINE_integer("resolution", 32, "Image resolution.")
flags.DEFINE_integer("batch", None, "Global batch (default: the preset's).")
flags.DEFINE_integer("batch_gpu", None, "Per-replica round batch.")
flags.DEFINE_integer("steps", None, "Timed steps (default: d_reg_interval).")
flags.DEFINE_integer("fp16_res", 0, "Reduced-precision resolutions.")
flags.DEFINE_enum("precision", "float16", list(LOW_PRECISIONS), "Reduced-precision type.")
flags.DEFINE_bool("xla", False, "XLA-compile the step.")
flags.DEFINE_enum("aug", "ada", list(AUG_MODES), "Augmentation.")
flags.DEFINE_float("p", 0.2, "Augmentation probability during the benchmark.")
flags.DEFINE_enum("ops", None, list(OP_IMPLS), "Op implementation.")
flags.DEFINE_integer("fmap_base", None, "Override the preset's fmap_base.")
flags.DEFINE_float("pl_weight", None, "Override the path-length weight.")
flags.DEFINE_string("channels", None, "Override the channel table (RES:CH,..., as sg2tf-train --channels).")
flags.DEFINE_enum("noise_mode", None, list(NOISE_MODES), "Override the preset's G noise inputs.")

FLAGS = flags.FLAGS


def build(raw, ops=None):
    """`(trainer, reals, labels, opts)` for the raw option values `raw` (synthetic data).

    Shared with `sg2tf-bench compare`, so that both time the same step."""

    if ops:
        dispatch.set_impl(ops)
    strategy, _, _, _ = make_strategy("auto")
    opts = options_lib.resolve({k: v for k, v in raw.items() if v is not None}, None, strategy.num_replicas_in_sync)
    trainer = build_trainer(opts, strategy)
    B, R = opts.batch, opts.resolution
    reals = tf.random.uniform([B, R, R, 3], -1, 1, seed=0)
    labels = tf.zeros([B, 0])
    return trainer, reals, labels, opts


def raw_options(**overrides):
    """The raw option values of this benchmark's flags (plus overrides)."""
    # The flags named as the options they set.
    names = "cfg resolution batch batch_gpu fp16_res precision xla aug fmap_base pl_weight channels noise_mode"
    raw = {name: FLAGS[name].value for name in names.split()}
    raw.update(p=FLAGS.p if FLAGS.aug != "noaug" else 0.0, outdir="/nonexistent")
    raw.update(overrides)
    return raw


def main(argv):
    trainer, reals, labels, opts = build(raw_options(), FLAGS.ops)
    B, R = opts.batch, opts.resolution
    cycle = opts.d_reg_interval
    t0 = time.time()
    for _ in range(cycle):
        trainer.train_step(reals, labels)
    warmup = time.time() - t0
    steps = FLAGS.steps or cycle
    t0, cpu0 = time.time(), time.process_time()
    for _ in range(steps):
        out = trainer.train_step(reals, labels)
    float(np.asarray(out["loss_D"]))  # wait for the last step
    elapsed, cpu = time.time() - t0, time.process_time() - cpu0
    rss, dev = stats.peak_memory_gib()
    sec_per_kimg = elapsed / (steps * B) * 1000
    return {
        "cfg": opts.cfg,
        "resolution": R,
        "batch": B,
        "channels": opts.channels,
        "noise_mode": opts.noise_mode,
        "fp16_res": opts.fp16_res,
        "precision": opts.precision if opts.fp16_res else "float32",
        "xla": bool(opts.xla),
        "ops": dispatch.get_impl() if hasattr(dispatch, "get_impl") else None,
        "aug": opts.aug,
        "steps": steps,
        "warmup_sec": round(warmup, 1),
        "sec_per_kimg": round(sec_per_kimg, 2),
        # CPU seconds of all threads: what the step costs, whatever else the machine runs.
        "cpu_sec_per_kimg": round(cpu / (steps * B) * 1000, 2),
        "kimg_per_10min": round(600 / sec_per_kimg, 3),
        "images_per_sec": round(steps * B / elapsed, 2),
        "host_peak_gib": round(rss, 2),
        "device_peak_gib": None if dev is None else round(dev, 2),
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
    }
