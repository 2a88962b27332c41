"""Inference precision: which dtype each resolution block computes in.

A network records how it was trained: `num_fp16_res` reduced-precision resolutions
computing in `low_precision` ('float16' or 'bfloat16'); every block's compute dtype is
part of its config. The inference programs choose how to run it (`--precision`):

  * `auto`: float32 on a CPU (float16 is slow there, and float32 is the official
    `force_fp32=True` path); the network's own precision where a GPU is present.
  * `float32`: every block in float32 (the official `force_fp32=True` outputs).
  * `network`: as trained (the official default on a GPU).
  * `float16` / `bfloat16`: the network's reduced-precision blocks in that type (the top
    4 resolutions, StyleGAN2-ADA's default, for networks trained without any).

`with_precision(net, precision)` returns the network itself when nothing changes, else
a copy with the same weights whose blocks compute as asked.
"""

import tensorflow as tf

from sg2tf.constants import INFERENCE_PRECISIONS
from sg2tf.networks.common import block_compute_dtype

# Reduced-precision resolutions for float16/bfloat16 inference of a network trained without
# any (StyleGAN2-ADA's train.py default, num_fp16_res=4).
DEFAULT_LOW_PRECISION_RES = 4


def check_precision(precision):
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {INFERENCE_PRECISIONS}, got {precision!r}")
    return precision


def has_gpu():
    return bool(tf.config.list_logical_devices("GPU"))


def resolve(precision):
    """`auto` -> 'network' where a GPU is present, else 'float32'; others unchanged."""
    check_precision(precision)
    if precision == "auto":
        return "network" if has_gpu() else "float32"
    return precision


def _precision_config(net):
    """The dict holding `num_fp16_res` and `low_precision` in `net.get_config()`."""
    config = net.get_config()
    return config, config["synthesis_kwargs"] if "synthesis_kwargs" in config else config


def with_precision(net, precision):
    """`net` (a Generator or Discriminator) computing in `precision` (see the module doc).

    Returns `net` itself when its blocks already compute as asked, else a copy that
    shares no state with it (same weights, same config apart from the precision).
    """
    precision = resolve(precision)
    if precision == "network":
        return net
    config, target = _precision_config(net)
    num = int(target.get("num_fp16_res") or 0)
    if precision == "float32":
        target["num_fp16_res"] = 0
    else:
        target["num_fp16_res"] = num or DEFAULT_LOW_PRECISION_RES
        target["low_precision"] = precision
    current = block_dtypes(net)
    want = {
        res: block_compute_dtype(
            res, config["img_resolution"], target["num_fp16_res"], target.get("low_precision", "float16")
        )
        for res in current
    }
    if want == current:
        return net
    clone = type(net).from_config(config)
    old, new = net.variables, clone.variables
    if [tuple(v.shape) for v in old] != [tuple(v.shape) for v in new]:
        raise ValueError(f"{net.name}: cannot change the precision (weights differ)")
    for dst, src in zip(new, old):
        dst.assign(src)
    return clone


def block_dtypes(net):
    """`{resolution: dtype}` of the blocks of a Generator's synthesis or a Discriminator."""
    return (net.synthesis if hasattr(net, "synthesis") else net).block_dtypes


def describe(net):
    """'float32', or e.g. 'float16 at 64-256 px, float32 below' for a mixed network."""
    dtypes = block_dtypes(net)
    low = sorted(r for r, d in dtypes.items() if d != "float32")
    if not low:
        return "float32"
    kind = dtypes[low[0]]
    return f"{kind} at {low[0]}-{low[-1]} px, float32 below"
