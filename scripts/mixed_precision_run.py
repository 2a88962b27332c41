"""Short training runs in float16 and bfloat16 against float32 from the same weights and data.

Builds one trainer per precision (the same options but `--fp16_res` and `--precision`, with
`conv_clamp` in all of them, so the float32 network is the reduced-precision one computed in
float32), gives every trainer the float32 trainer's initial weights and the same seed (hence the
same random draws), trains each on the same batches of the synthetic shapes, and prints per step
the losses, and at the end how far each run's weight updates are from float32's and how many
steps it skipped (non-finite gradients; float16 uses dynamic loss scaling, bfloat16 none).

The yardstick for "within the float16 noise" is a float32 run from the initial weights moved
by one float16 rounding (2^-11 relative, random signs): how far the training moves from a
perturbation of that size by itself.

Usage:
  python scripts/mixed_precision_run.py [--resolution=64] [--steps=16] [--batch=4] [--out=run.json]
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np

from sg2tf.utils.atomic import atomic_file

LOSSES = ("loss_G", "loss_D", "scores_real", "scores_fake")


def _trainer(common, fp16_res, precision):
    from sg2tf.training import options, setup

    with tempfile.TemporaryDirectory() as outdir:
        opts = options.resolve(dict(common, outdir=outdir, fp16_res=fp16_res, precision=precision))
    return setup.build_trainer(opts)


def _copy_weights(src, dst, nudge=0.0, seed=0):
    rng = np.random.RandomState(seed)
    for a, b in ((src.G, dst.G), (src.D, dst.D), (src.G_ema, dst.G_ema)):
        for v, w in zip(a.variables, b.variables):
            value = v.numpy()
            if nudge and v.trainable:
                value = value * (1 + nudge * rng.choice([-1.0, 1.0], size=value.shape)).astype(value.dtype)
            w.assign(value)


def _weights(trainer):
    return {v.path: v.numpy().astype(np.float64) for m in (trainer.G, trainer.D) for v in m.trainable_variables}


def _relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--fp16_res", type=int, default=4)
    parser.add_argument("--cfg", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="", help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # Grappler off: the steps' graphs trace and compile about twice as fast.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

    from sg2tf.data import synthetic

    common = dict(
        cfg=args.cfg, resolution=args.resolution, batch=args.batch, mbstd_group=4, seed=args.seed, conv_clamp=256
    )
    source = synthetic.synthetic_source(args.steps * args.batch, resolution=args.resolution, seed=args.seed)
    # CHW uint8 images -> NHWC float32 in [-1, 1], as the input pipeline gives them.
    images = np.stack([source.load(i).transpose(1, 2, 0) for i in range(source.num_images)])
    reals = tf.constant(images.astype(np.float32) / 127.5 - 1)
    labels = tf.zeros([args.batch, 0])

    variants = {
        "float32": (0, "float16", 0.0),
        "float32 nudged 2^-11": (0, "float16", 2.0**-11),
        "float16": (args.fp16_res, "float16", 0.0),
        "bfloat16": (args.fp16_res, "bfloat16", 0.0),
    }
    trainers = {name: _trainer(common, fp16_res, precision) for name, (fp16_res, precision, _) in variants.items()}
    base = trainers["float32"]
    initial = _weights(base)
    for name, (_, _, nudge) in variants.items():
        if name != "float32":
            _copy_weights(base, trainers[name], nudge, seed=args.seed)
    runs = {}
    for name, trainer in trainers.items():
        start, losses = time.time(), []
        for step in range(args.steps):
            batch = reals[step * args.batch : (step + 1) * args.batch]
            stats = trainer.train_step(batch, labels)
            losses.append({k: float(np.mean(stats[k])) for k in LOSSES if k in stats})
            print(f"{name:22s} step {step:2d} " + " ".join(f"{k}={v:.4f}" for k, v in losses[-1].items()), flush=True)
        runs[name] = dict(
            losses=losses,
            weights=_weights(trainer),
            skipped=int(trainer.skipped_G.numpy() + trainer.skipped_D.numpy()),
            seconds=round(time.time() - start, 1),
        )
    reference = runs["float32"]
    summary = {}
    for name, run in runs.items():
        updates = [
            _relative(run["weights"][k] - initial[k], reference["weights"][k] - initial[k])
            for k in initial
            if np.any(reference["weights"][k] != initial[k])
        ]
        loss_gap = max(abs(a[k] - b[k]) for a, b in zip(run["losses"], reference["losses"]) for k in a if k in b)
        summary[name] = dict(
            update_distance_median=float(np.median(updates)),
            update_distance_max=float(np.max(updates)),
            loss_gap_max=float(loss_gap),
            skipped_steps=run["skipped"],
            seconds=run["seconds"],
        )
        print(f"{name:22s} " + " ".join(f"{k}={v:.4g}" for k, v in summary[name].items()), flush=True)
    if args.out:
        with atomic_file(args.out) as tmp, open(tmp, "w") as f:
            json.dump(dict(options=common, steps=args.steps, summary=summary), f, indent=1)


if __name__ == "__main__":
    main()
